package server_test

import (
	"bytes"
	"context"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// noSpace fails every Put with ENOSPC, as a full disk does. A wrapper,
// because filling a real file system needs a mount.
type noSpace struct {
	storage.Backend
	dir string
}

func (n noSpace) Put(_ context.Context, name string, _ io.Reader) error {
	return &os.PathError{Op: "write", Path: filepath.Join(n.dir, name), Err: syscall.ENOSPC}
}

// serverWith serves a cache over store with one route for every module.
func serverWith(t *testing.T, store storage.Backend, route modcache.Route) (*httptest.Server, *testutil.Buffer) {
	t.Helper()
	var logs testutil.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	cache, err := modcache.New(modcache.Options{Store: store, TempDir: t.TempDir(), Logger: log,
		Route: func(string) modcache.Route { return route }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Options{Cache: cache, Logger: log}).Handler())
	t.Cleanup(srv.Close)
	return srv, &logs
}

// A full disk: the client gets a 500 with one line and the request id,
// and the log says what failed.
func TestDiskFullIsA500WithALogLine(t *testing.T) {
	up := testproxy.New(t)
	dir := t.TempDir()
	store, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	chain, _ := upstream.ParseChain(up.URL, nil)
	srv, logs := serverWith(t, noSpace{store, dir}, modcache.Route{Name: "public", Source: chain})
	resp, body := do(t, "GET", srv.URL+"/example.com/greet/@v/v1.0.0.info")
	id := resp.Header.Get("X-Request-Id")
	if resp.StatusCode != 500 || strings.Count(body, "\n") != 1 || !strings.Contains(body, "storage error") || !strings.Contains(body, id) {
		t.Errorf("full disk: %d %q, want a one-line 500 naming the request id %s", resp.StatusCode, body, id)
	}
	if strings.Contains(body, dir) || strings.Contains(body, "no space") {
		t.Errorf("error body reveals storage details: %q", body)
	}
	if !strings.Contains(logs.String(), "no space left on device") {
		t.Errorf("log does not say what failed:\n%s", logs)
	}
}

// Dead upstreams (nothing listening, a TLS certificate nobody trusts): a
// 502 with one line, and for a private route not a word of where it is.
func TestDeadUpstreamErrorsRevealNoHost(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + ln.Addr().String()
	ln.Close()
	untrusted := httptest.NewUnstartedServer(http.NotFoundHandler())
	untrusted.Config.ErrorLog = log.New(io.Discard, "", 0)
	untrusted.StartTLS()
	defer untrusted.Close()
	for _, tc := range []struct{ name, url, inLog string }{
		{"connection refused", refused, "connection refused"},
		{"TLS failure", untrusted.URL, "certificate"},
	} {
		for _, private := range []bool{false, true} {
			store, err := fs.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			chain, _ := upstream.ParseChain(tc.url, nil)
			srv, logs := serverWith(t, store, modcache.Route{Name: "r", Source: chain, Private: private})
			resp, body := do(t, "GET", srv.URL+"/corp.example.com/secret/@v/v1.0.0.mod")
			if resp.StatusCode != http.StatusBadGateway || strings.Count(body, "\n") != 1 || !strings.Contains(body, "upstream failed") {
				t.Errorf("%s (private %v): %d %q, want a one-line 502", tc.name, private, resp.StatusCode, body)
			}
			host := strings.TrimPrefix(strings.TrimPrefix(tc.url, "http://"), "https://")
			if strings.Contains(body, host) || strings.Contains(body, "127.0.0.1") {
				t.Errorf("%s (private %v): error body reveals the upstream: %q", tc.name, private, body)
			}
			if !strings.Contains(logs.String(), tc.inLog) {
				t.Errorf("%s: log does not say what failed:\n%s", tc.name, logs)
			}
		}
	}
}

// Credentials in an upstream URL (https://user:password@host) never reach
// a log line or an error body, whatever the upstream answers.
func TestUpstreamPasswordNotLogged(t *testing.T) {
	const password = "s3cret-pw"
	status := http.StatusInternalServerError
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/example.com/m/@v/v1.0.0.info" {
			w.Write(bytes.Repeat([]byte(" "), 2<<20)) // too large
			return
		}
		http.Error(w, "down", status)
	}))
	defer up.Close()
	chain, err := upstream.ParseChain(strings.Replace(up.URL, "http://", "http://gatehouse:"+password+"@", 1), nil)
	if err != nil {
		t.Fatal(err)
	}
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	srv, logs := serverWith(t, store, modcache.Route{Name: "public", Source: chain})
	for _, p := range []string{"/example.com/m/@v/v1.0.0.info", "/example.com/m/@v/v1.1.0.info", "/example.com/m/@v/list", "/example.com/m/@latest"} {
		resp, body := do(t, "GET", srv.URL+p)
		if resp.StatusCode < 500 || strings.Contains(body, password) {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	status = http.StatusNotFound
	do(t, "GET", srv.URL+"/example.com/m/@v/v1.2.0.info")
	if strings.Contains(logs.String(), password) {
		t.Errorf("the upstream's password is in the log:\n%s", logs)
	}
	if !strings.Contains(logs.String(), "larger than") {
		t.Errorf("log does not say what failed:\n%s", logs)
	}
}
