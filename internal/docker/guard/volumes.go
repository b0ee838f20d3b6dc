package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
)

// lookupVolume asks dockerd for a named volume's driver and options, for the
// body rules (inspect.VolumeLookup). name is a valid volume name.
func (g *Guard) lookupVolume(ctx context.Context, name string) (string, map[string]string, bool, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://docker/volumes/"+url.PathEscape(name), nil)
	if err != nil {
		return "", nil, false, err
	}
	resp, err := g.daemon.Do(req)
	if err != nil {
		return "", nil, false, fmt.Errorf("docker daemon unreachable")
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return "", nil, false, nil
	case http.StatusOK:
	default:
		return "", nil, false, fmt.Errorf("docker daemon answered %d", resp.StatusCode)
	}
	var v struct {
		Driver  string
		Options map[string]string
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
		return "", nil, false, fmt.Errorf("volume inspect: %v", err)
	}
	return v.Driver, v.Options, true, nil
}
