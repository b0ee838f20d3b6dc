package guard

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
)

type recorder struct {
	mu   sync.Mutex
	recs []audit.Record
}

func (r *recorder) Write(rec audit.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec)
	return nil
}

func (r *recorder) last() audit.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.recs[len(r.recs)-1]
}

// serveUnix runs g on a unix socket and returns a client for it. The
// client runs as this process's uid, which the kernel reports.
func serveUnix(t *testing.T, g *Guard) *http.Client {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "g.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: g, ConnContext: ConnContext}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

func do(t *testing.T, c *http.Client, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://docker"+path, nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != 200 && ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q", method, path, ct)
	}
	var msg struct{ Message string }
	if err := json.Unmarshal(b, &msg); err != nil {
		t.Fatalf("%s %s: body %q is not {\"message\"}", method, path, b)
	}
	return resp.StatusCode, msg.Message
}

func TestPeerCredentials(t *testing.T) {
	uid := os.Getuid()
	ro, _ := rules.Preset("read-only")
	sink := &recorder{}
	// The daemon socket does not exist: allowed requests get a 502.
	g, err := New(Options{Socket: filepath.Join(t.TempDir(), "none.sock"), Audit: sink,
		Clients: []Client{{UID: &uid, Profile: ro}}})
	if err != nil {
		t.Fatal(err)
	}
	c := serveUnix(t, g)

	code, msg := do(t, c, "POST", "/v1.41/containers/create")
	if code != 403 || !strings.Contains(msg, "(rule default-deny)") || !strings.Contains(msg, `profile "read-only"`) {
		t.Errorf("create: %d %q", code, msg)
	}
	rec := sink.last()
	if rec.Service != "docker" || rec.Decision != "deny" || rec.Rule != "default-deny" || rec.Method != "POST" ||
		rec.Endpoint != "/containers/create" || rec.AuthMethod != "peercred" || !strings.HasPrefix(rec.Client, "pid ") {
		t.Errorf("audit record %+v", rec)
	}

	code, msg = do(t, c, "GET", "/containers/json")
	if code != 502 || !strings.Contains(msg, "cannot reach the Docker daemon") || strings.Contains(msg, "none.sock") {
		t.Errorf("no daemon: %d %q", code, msg)
	}
	if rec := sink.last(); rec.Decision != "error" || rec.Rule != "read-only: GET /containers/json" || rec.Status != 502 {
		t.Errorf("audit record %+v", rec)
	}
}

func TestUnknownPeer(t *testing.T) {
	other := os.Getuid() + 12345
	full, _ := rules.Preset("full")
	sink := &recorder{}
	g, err := New(Options{Socket: "/nonexistent.sock", Audit: sink, Clients: []Client{{UID: &other, Profile: full}}})
	if err != nil {
		t.Fatal(err)
	}
	c := serveUnix(t, g)
	for _, p := range []string{"/_ping", "/containers/json", "/v1.41/info"} {
		if code, msg := do(t, c, "GET", p); code != 403 || !strings.Contains(msg, "(rule unknown-client)") {
			t.Errorf("GET %s: %d %q", p, code, msg)
		}
	}
	if len(sink.recs) != 3 {
		t.Errorf("%d audit records, want 3", len(sink.recs))
	}
}

func TestNewNeedsAuditAndSocket(t *testing.T) {
	if _, err := New(Options{Socket: "/x.sock"}); err == nil {
		t.Error("no audit sink accepted")
	}
	if _, err := New(Options{Audit: &recorder{}}); err == nil {
		t.Error("no socket accepted")
	}
}

// An inspected body reaches the daemon byte for byte, chunked or not, and
// the daemon sees the path gatehouse matched. dockerd does not show the
// bytes it received, so a recording HTTP server on a unix socket stands in
// for it here; the end-to-end tests run the real one.
func TestBodyForwardedUnchanged(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		path string
		body []byte
	}
	seen := make(chan got, 4)
	daemon := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen <- got{r.URL.RawPath + "|" + r.URL.Path, b}
		w.WriteHeader(http.StatusCreated)
	})}
	go daemon.Serve(ln)
	t.Cleanup(func() { daemon.Close() })

	uid := os.Getuid()
	ci, _ := rules.Preset("ci")
	g, err := New(Options{Socket: sock, Audit: &recorder{}, Clients: []Client{{UID: &uid, Profile: ci}}})
	if err != nil {
		t.Fatal(err)
	}
	c := serveUnix(t, g)
	body := " {\"Image\" : \"bb\",\n\t\"Cmd\":[\"echo\",\"\\u00e9\"], \"HostConfig\":{ \"NetworkMode\":\"none\" } }\n"
	for _, chunked := range []bool{false, true} {
		var rd io.Reader = strings.NewReader(body)
		if chunked {
			rd = io.MultiReader(rd) // unknown length: sent chunked
		}
		req, _ := http.NewRequest("POST", "http://docker/v1.41/%63ontainers/create?name=x", rd)
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 201 {
			t.Fatalf("chunked=%v: status %d", chunked, resp.StatusCode)
		}
		g := <-seen
		if string(g.body) != body {
			t.Errorf("chunked=%v: daemon got %q, want %q", chunked, g.body, body)
		}
		if g.path != "|/v1.41/containers/create" {
			t.Errorf("daemon got path %q", g.path)
		}
	}
}
