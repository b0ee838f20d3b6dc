package guard

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
	"github.com/gatehouse-dev/gatehouse/internal/docker/inspect"
	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
)

// lookupContainer asks dockerd for a container's mounts, for the body rules
// (inspect.ContainerLookup).
func (g *Guard) lookupContainer(ctx context.Context, id string) ([]inspect.Mount, bool, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://docker/containers/"+url.PathEscape(id)+"/json", nil)
	if err != nil {
		return nil, false, err
	}
	resp, err := g.daemon.Do(req)
	if err != nil {
		return nil, false, fmt.Errorf("docker daemon unreachable")
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotFound:
		return nil, false, nil
	case http.StatusOK:
	default:
		return nil, false, fmt.Errorf("docker daemon answered %d", resp.StatusCode)
	}
	var c struct{ Mounts []inspect.Mount }
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&c); err != nil {
		return nil, false, fmt.Errorf("container inspect: %v", err)
	}
	return c.Mounts, true, nil
}

// imageLoad is the endpoint whose rule also allows importing an image with
// images/create?fromSrc=-: both put an image the client uploads in.
var imageLoad = api.Endpoint{Method: "POST", Path: "/images/load"}

// scope returns what profile p widens or narrows in the body rules.
func scope(p *rules.Profile) inspect.Scope {
	_, load := p.Allow(imageLoad)
	return inspect.Scope{Registries: p.Registries, LogDrivers: p.LogDrivers, Import: load}
}
