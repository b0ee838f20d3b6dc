package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// errDaemon is a question to dockerd that got no usable answer.
var errDaemon = errors.New("docker daemon unreachable")

// daemonStatus is an answer of dockerd other than 2xx and 404.
type daemonStatus struct{ code int }

func (e *daemonStatus) Error() string { return fmt.Sprintf("docker daemon answered %d", e.code) }

// clientError reports whether err is dockerd refusing the question itself
// (a 4xx such as an ambiguous id prefix), not dockerd failing.
func clientError(err error) bool {
	var ds *daemonStatus
	return errors.As(err, &ds) && ds.code >= 400 && ds.code < 500
}

// daemonJSON asks dockerd (GET, or POST with a JSON body) and decodes its
// answer into v. found is false for a 404: no such object.
func (g *Guard) daemonJSON(ctx context.Context, method, path string, body, v any) (found bool, err error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return false, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker"+path, rd)
	if err != nil {
		return false, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := g.daemon.Do(req)
	if err != nil {
		return false, errDaemon
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return false, &daemonStatus{resp.StatusCode}
	}
	if v == nil {
		return true, nil
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(v); err != nil {
		return false, fmt.Errorf("docker daemon answer: %v", err)
	}
	return true, nil
}
