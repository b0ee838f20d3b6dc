package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/slots"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
)

// busySource refuses every fetch as the private source does for an
// identity with too many fetches waiting.
type busySource struct{}

func (busySource) err() error                                       { return &slots.BusyError{Owner: "token:mallory", MaxQueued: 64} }
func (s busySource) List(context.Context, string) ([]string, error) { return nil, s.err() }
func (s busySource) Latest(context.Context, string) ([]byte, error) { return nil, s.err() }
func (s busySource) Info(context.Context, string, string) ([]byte, error) {
	return nil, s.err()
}
func (s busySource) GoMod(context.Context, string, string) ([]byte, error) {
	return nil, s.err()
}
func (s busySource) Zip(context.Context, string, string) (io.ReadCloser, error) {
	return nil, s.err()
}

// Too many private fetches waiting for one identity: 429 with Retry-After
// and one text/plain line the go command shows, for every request kind.
func TestTooManyPrivateFetches(t *testing.T) {
	store, _ := fs.New(t.TempDir())
	cache, _ := modcache.New(modcache.Options{Store: store, TempDir: t.TempDir(),
		Route: func(string) modcache.Route {
			return modcache.Route{Name: "private", Source: busySource{}, Private: true}
		}})
	s := server.New(server.Options{Cache: cache, Logger: slog.New(slog.DiscardHandler)})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for _, path := range []string{"/git.corp.test/lib/@v/list", "/git.corp.test/lib/@latest", "/git.corp.test/lib/@v/v1.0.0.info", "/git.corp.test/lib/@v/v1.0.0.zip"} {
		resp, body := do(t, "GET", srv.URL+path)
		if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: %d, Retry-After %q, Content-Type %q", path, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Header.Get("Content-Type"))
		}
		if strings.Count(body, "\n") != 1 || !strings.Contains(body, "too many fetches") || !strings.Contains(body, "retry") {
			t.Errorf("%s: body %q, want one line saying what to do", path, body)
		}
	}
}
