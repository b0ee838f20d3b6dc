package server_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/sumdb"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

type testEnv struct {
	up    *testproxy.Server
	store *fs.Store
	cache *modcache.Cache
	srv   *httptest.Server
	done  []*reqlog.Entry
	// metrics is on, as in a deployment that scrapes it, so the
	// benchmarks count its cost.
	metrics *metrics.Metrics
}

func newTestEnv(t testing.TB, gates ...server.Gate) *testEnv {
	t.Helper()
	return newTestEnvWith(t, nil, gates...)
}

// newTestEnvWith is newTestEnv with the cache's options changed by tweak.
func newTestEnvWith(t testing.TB, tweak func(*modcache.Options), gates ...server.Gate) *testEnv {
	t.Helper()
	up := testproxy.New(t)
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	mets := metrics.New("test")
	chain, _ := upstream.ParseChain(up.URL, nil)
	checker, err := verify.NewSumDB(verify.SumDBOptions{Key: up.GOSUMDB(), URL: up.SumDBURL(), StateDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	opts := modcache.Options{
		Store: store, TempDir: t.TempDir(), Logger: quiet, Observer: mets,
		Route: func(string) modcache.Route { return modcache.Route{Name: "public", Source: chain, Checker: checker} },
	}
	if tweak != nil {
		tweak(&opts)
	}
	cache, err := modcache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	var reg sumdb.Registry
	reg.Add(testproxy.SumDBName, &sumdb.Proxy{
		Name: testproxy.SumDBName, URL: up.SumDBURL(), Store: store, Logger: quiet,
		Private: func(p string) bool { return strings.HasPrefix(p, "corp.example.com/") },
	})
	e := &testEnv{up: up, store: store, cache: cache, metrics: mets}
	s := server.New(server.Options{Cache: cache, SumDB: &reg, Logger: quiet, Gates: gates,
		OnDone:  func(en *reqlog.Entry) { e.done = append(e.done, en) },
		Observe: mets.ObserveRequest})
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

func do(t testing.TB, method, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

func TestArtifactHeaders(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct{ path, ctype, cache string }{
		{"/example.com/greet/@v/v1.0.0.info", "application/json", "immutable"},
		{"/example.com/greet/@v/v1.0.0.mod", "text/plain; charset=UTF-8", "immutable"},
		{"/example.com/greet/@v/v1.0.0.zip", "application/zip", "immutable"},
		{"/example.com/greet/@v/list", "text/plain; charset=UTF-8", "max-age=60"},
		{"/example.com/greet/@latest", "application/json", "max-age=60"},
	}
	for _, tt := range tests {
		resp, body := do(t, "GET", e.srv.URL+tt.path)
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d %s", tt.path, resp.StatusCode, body)
			continue
		}
		if got := resp.Header.Get("Content-Type"); got != tt.ctype {
			t.Errorf("%s: Content-Type %q, want %q", tt.path, got, tt.ctype)
		}
		if got := resp.Header.Get("Cache-Control"); !strings.Contains(got, tt.cache) {
			t.Errorf("%s: Cache-Control %q, want %q", tt.path, got, tt.cache)
		}
		if tt.cache == "immutable" && resp.Header.Get("ETag") == "" {
			t.Errorf("%s: no ETag", tt.path)
		}
		head, hbody := do(t, "HEAD", e.srv.URL+tt.path)
		if head.StatusCode != 200 || hbody != "" || head.Header.Get("Content-Type") != tt.ctype {
			t.Errorf("HEAD %s: %d, body %q", tt.path, head.StatusCode, hbody)
		}
	}
	_, list := do(t, "GET", e.srv.URL+"/example.com/greet/@v/list")
	if list != "v1.0.0\nv1.1.0\n" {
		t.Errorf("list = %q", list)
	}
	_, latest := do(t, "GET", e.srv.URL+"/example.com/greet/@latest")
	if !strings.Contains(latest, `"v1.1.0"`) {
		t.Errorf("latest = %q", latest)
	}
}

func TestConditionalGet(t *testing.T) {
	e := newTestEnv(t)
	url := e.srv.URL + "/example.com/greet/@v/v1.0.0.zip"
	resp, body := do(t, "GET", url)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || etag == "" || len(body) == 0 {
		t.Fatalf("first GET: %d etag %q", resp.StatusCode, etag)
	}
	resp, body = do(t, "GET", url, "If-None-Match", etag)
	if resp.StatusCode != http.StatusNotModified || body != "" {
		t.Errorf("If-None-Match: %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, body = do(t, "GET", url, "Range", "bytes=0-1")
	if resp.StatusCode != http.StatusPartialContent || body != "PK" {
		t.Errorf("Range: %d %q", resp.StatusCode, body)
	}
}

func TestMalformedRequests(t *testing.T) {
	e := newTestEnv(t)
	tests := []struct {
		path   string
		status int
	}{
		{"/example.com/greet/@v/master.info", 400},
		{"/example.com/greet/@v/v1.0.info", 400},
		{"/example.com/greet/@v/-x.zip", 400},
		{"/-x/@v/list", 400},
		{"/Example.com/greet/@v/list", 400},
		{"/example.com%2fgreet/@v/list", 400},
		{"/example.com/gr%65et/@v/list", 400},
		{"/example.com/greet/@v/v1.0.0.zip%00", 400},
		{"/example.com/greet/@v/..%2f..%2f..%2fetc%2fpasswd", 400},
		{"/" + strings.Repeat("a", 2000) + "/@v/list", 400},
		{"/example.com/greet", 404},
		{"/favicon.ico", 404},
		{"/example.com/greet/@v/v1.0.0.tgz", 404},
	}
	for _, tt := range tests {
		before := len(e.done)
		resp, body := do(t, "GET", e.srv.URL+tt.path)
		if resp.StatusCode != tt.status {
			t.Errorf("%s: status %d, want %d (%q)", tt.path, resp.StatusCode, tt.status, body)
		}
		if strings.Count(body, "\n") != 1 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
			t.Errorf("%s: want a one-line text/plain reason, got %q", tt.path, body)
		}
		// A probe is a protocol request too: the audit log must show it.
		if len(e.done) != before+1 {
			t.Errorf("%s: %d audit records, want 1", tt.path, len(e.done)-before)
		} else if en := e.done[before]; en.Kind != "invalid" || en.Decision != "error" || en.Reason == "" || en.Status != tt.status {
			t.Errorf("%s: audit record %+v, want kind invalid, decision error with the reason", tt.path, en)
		}
	}
	// Path cleaning by the mux must not turn a traversal into a redirect to
	// a file outside; whatever the status, nothing outside is served.
	for _, p := range []string{"/../../../../etc/passwd", "/example.com/../../etc/passwd/@v/list"} {
		resp, body := do(t, "GET", e.srv.URL+p)
		if resp.StatusCode == 200 || strings.Contains(body, "root:") {
			t.Errorf("%s: %d %q", p, resp.StatusCode, body)
		}
	}
	if e.up.TotalCount() != 0 {
		t.Errorf("malformed requests reached the upstream %d times", e.up.TotalCount())
	}
	resp, _ := do(t, "POST", e.srv.URL+"/example.com/greet/@v/list")
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Errorf("POST: %d allow %q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

func TestNotFoundAndUpstreamErrors(t *testing.T) {
	e := newTestEnv(t)
	resp, body := do(t, "GET", e.srv.URL+"/example.com/nosuch/@v/v1.0.0.info")
	if resp.StatusCode != 404 || !strings.HasPrefix(body, "not found: example.com/nosuch@v1.0.0") {
		t.Errorf("missing module: %d %q", resp.StatusCode, body)
	}
	e.up.SetStatus(http.StatusInternalServerError)
	resp, body = do(t, "GET", e.srv.URL+"/example.com/greet/@v/v1.0.0.info")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "upstream failed") {
		t.Errorf("upstream 500: %d %q", resp.StatusCode, body)
	}
	if strings.Contains(body, e.up.URL) || strings.Contains(body, "127.0.0.1") {
		t.Errorf("error body reveals the upstream address: %q", body)
	}
}

func TestSumDBProxy(t *testing.T) {
	e := newTestEnv(t)
	base := e.srv.URL + "/sumdb/" + testproxy.SumDBName
	if resp, _ := do(t, "GET", base+"/supported"); resp.StatusCode != 200 {
		t.Errorf("supported: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", e.srv.URL+"/sumdb/other.example/supported"); resp.StatusCode != 404 {
		t.Errorf("unknown database supported: %d, want 404", resp.StatusCode)
	}
	resp, body := do(t, "GET", base+"/lookup/example.com/greet@v1.0.0")
	if resp.StatusCode != 200 || !strings.Contains(body, "example.com/greet v1.0.0 h1:") {
		t.Fatalf("lookup: %d %q", resp.StatusCode, body)
	}
	resp, body = do(t, "GET", base+"/lookup/corp.example.com/secret@v1.0.0")
	// The words of a missing (or hidden) module: nothing tells a prober
	// which private paths an access rule hides from it.
	if resp.StatusCode != 404 || body != "not found: corp.example.com/secret@v1.0.0\n" {
		t.Errorf("private lookup: %d %q", resp.StatusCode, body)
	}
	if n := e.up.Count("/sumdb/" + testproxy.SumDBName + "/lookup/corp.example.com/secret@v1.0.0"); n != 0 {
		t.Errorf("private module path sent to the public database %d times", n)
	}
	resp, tile := do(t, "GET", base+"/tile/8/0/000.p/1")
	if resp.StatusCode != 200 || len(tile) != 32 {
		t.Fatalf("tile: %d, %d bytes", resp.StatusCode, len(tile))
	}
	before := e.up.TotalCount()
	resp, tile2 := do(t, "GET", base+"/tile/8/0/000.p/1")
	if resp.StatusCode != 200 || tile2 != tile || e.up.TotalCount() != before {
		t.Errorf("cached tile: %d, same %v, upstream requests %d→%d", resp.StatusCode, tile2 == tile, before, e.up.TotalCount())
	}
	if resp, _ := do(t, "GET", base+"/tile/8/0/../../x"); resp.StatusCode != 400 {
		t.Errorf("bad tile path: %d", resp.StatusCode)
	}
}

// denyV110 is a gate that refuses example.com/greet@v1.1.0.
type denyV110 struct{}

type forbidden struct{ msg string }

func (f forbidden) Error() string   { return f.msg }
func (f forbidden) HTTPStatus() int { return http.StatusForbidden }

func (denyV110) Admit(ctx context.Context, req goproxy.Request) error {
	if req.Module == "example.com/greet" && req.Version == "v1.1.0" {
		return forbidden{"example.com/greet@v1.1.0 is denied by policy rule \"test\""}
	}
	return nil
}

func (denyV110) FilterVersions(ctx context.Context, mod string, versions []string) ([]string, error) {
	var out []string
	for _, v := range versions {
		if !(mod == "example.com/greet" && v == "v1.1.0") {
			out = append(out, v)
		}
	}
	return out, nil
}

func TestGates(t *testing.T) {
	e := newTestEnv(t, denyV110{})
	resp, body := do(t, "GET", e.srv.URL+"/example.com/greet/@v/v1.1.0.zip")
	if resp.StatusCode != 403 || !strings.HasPrefix(body, "example.com/greet@v1.1.0 is denied") {
		t.Errorf("denied version: %d %q", resp.StatusCode, body)
	}
	if n := e.up.Count("/example.com/greet/@v/v1.1.0.zip"); n != 0 {
		t.Errorf("denied version fetched upstream %d times", n)
	}
	_, list := do(t, "GET", e.srv.URL+"/example.com/greet/@v/list")
	if list != "v1.0.0\n" {
		t.Errorf("filtered list = %q", list)
	}
	_, latest := do(t, "GET", e.srv.URL+"/example.com/greet/@latest")
	if !strings.Contains(latest, `"Version":"v1.0.0"`) {
		t.Errorf("latest with v1.1.0 denied = %q", latest)
	}
	var denied *reqlog.Entry
	for _, en := range e.done {
		if en.Version == "v1.1.0" {
			denied = en
		}
	}
	if denied == nil || denied.Decision != "deny" || denied.Status != 403 || denied.Reason == "" {
		t.Errorf("audit record of the refusal: %+v", denied)
	}
}

func TestErrorBody(t *testing.T) {
	long := strings.Repeat("line\n", 20) + strings.Repeat("x", 1000)
	b := server.ErrorBody(long)
	if strings.Count(b, "\n") > 8 || len(b) > 648 {
		t.Errorf("ErrorBody too long: %d lines, %d bytes", strings.Count(b, "\n"), len(b))
	}
	if got := server.ErrorBody("evil\x1b[31m\rline\x00"); got != "evil[31mline\n" {
		t.Errorf("control characters kept: %q", got)
	}
}

func TestHealth(t *testing.T) {
	e := newTestEnv(t)
	if resp, body := do(t, "GET", e.srv.URL+"/healthz"); resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	do(t, "GET", e.srv.URL+"/example.com/greet/@v/list") // upstream answered recently
	if resp, body := do(t, "GET", e.srv.URL+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz: %d %q", resp.StatusCode, body)
	}
}

func TestReadyzUpstreamDown(t *testing.T) {
	store, _ := fs.New(t.TempDir())
	cache, _ := modcache.New(modcache.Options{Store: store, TempDir: t.TempDir(),
		Route: func(string) modcache.Route { return modcache.Route{} }})
	s := server.New(server.Options{Cache: cache, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		UpstreamProbe: func(context.Context) error { return errors.New("connection refused") }})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, body := do(t, "GET", srv.URL+"/readyz")
	if resp.StatusCode != 503 || !strings.Contains(body, "upstream") {
		t.Errorf("readyz with upstream down: %d %q", resp.StatusCode, body)
	}
}

// The request id is gatehouse's own: a client's X-Request-Id is kept in a
// field of its own, never taken as the id an auditor correlates by.
func TestRequestID(t *testing.T) {
	e := newTestEnv(t)
	resp, _ := do(t, "GET", e.srv.URL+"/example.com/greet/@v/list", "X-Request-Id", "abc-123")
	id := resp.Header.Get("X-Request-Id")
	if id == "" || id == "abc-123" {
		t.Errorf("response id %q: want gatehouse's own", id)
	}
	if len(e.done) != 1 || e.done[0].ID != id || e.done[0].ClientRequestID != "abc-123" {
		t.Fatalf("entry: %+v", e.done)
	}
	resp, _ = do(t, "GET", e.srv.URL+"/example.com/greet/@v/list", "X-Request-Id", "evil\tid with spaces")
	if id := resp.Header.Get("X-Request-Id"); id == "" || strings.Contains(id, " ") {
		t.Errorf("bad request id accepted: %q", id)
	}
	if got := e.done[1].ClientRequestID; got != "" {
		t.Errorf("a client id that is not a plain token was kept: %q", got)
	}
}

// A checksum-database lookup names a module version, so it passes the same
// gates as a download of that version: refused, it reaches no database.
func TestGatesApplyToLookups(t *testing.T) {
	e := newTestEnv(t, denyV110{})
	db := "/sumdb/" + testproxy.SumDBName
	resp, body := do(t, "GET", e.srv.URL+db+"/lookup/example.com/greet@v1.1.0")
	if resp.StatusCode != 403 || !strings.HasPrefix(body, "example.com/greet@v1.1.0 is denied") {
		t.Errorf("lookup of a denied version: %d %q", resp.StatusCode, body)
	}
	if n := e.up.Count(db + "/lookup/example.com/greet@v1.1.0"); n != 0 {
		t.Errorf("denied lookup reached the database %d times", n)
	}
	if resp, body := do(t, "GET", e.srv.URL+db+"/lookup/example.com/greet@v1.0.0"); resp.StatusCode != 200 || !strings.Contains(body, "example.com/greet v1.0.0 h1:") {
		t.Errorf("lookup of an allowed version: %d %q", resp.StatusCode, body)
	}
	// Case-escaped paths are unescaped before the gates see them.
	if p, ok := server.ParseLookupForTest("/sumdb/sum.example/x/lookup/github.com/!burnt!sushi/toml@v1.6.0"); !ok || p != "github.com/BurntSushi/toml@v1.6.0" {
		t.Errorf("parseLookup = %q, %v", p, ok)
	}
}

// denyGreet is a gate that hides example.com/greet entirely, as an access
// rule does for a caller outside its groups.
type denyGreet struct{}

func (denyGreet) Admit(ctx context.Context, req goproxy.Request) error {
	if req.Module == "example.com/greet" {
		return forbidden{"not found: " + req.String()}
	}
	return nil
}

func (denyGreet) FilterVersions(ctx context.Context, mod string, versions []string) ([]string, error) {
	if mod == "example.com/greet" {
		return nil, nil
	}
	return versions, nil
}

// A lookup the gates cannot parse must not reach a database: '#' and '?'
// after a prerelease version passed the database's own syntax check, and
// the forwarded URL then named a valid version of a hidden module.
func TestLookupGatesCannotBeSidestepped(t *testing.T) {
	// Without gates, the checksum database proxy refuses them itself.
	for _, gates := range [][]server.Gate{{denyGreet{}}, nil} {
		testLookupGates(t, newTestEnv(t, gates...))
	}
}

func testLookupGates(t *testing.T, e *testEnv) {
	t.Helper()
	if err := e.up.Add("example.com/greet", "v1.2.0-rc.1", map[string]string{"go.mod": "module example.com/greet\n"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	db := "/sumdb/" + testproxy.SumDBName
	for _, p := range []string{
		"/lookup/example.com/greet@v1.2.0-rc.1%23",
		"/lookup/example.com/greet@v1.2.0-rc.1%3F",
		"/lookup/example.com/greet@v1.2.0-rc.1%3Fx=1",
		"/lookup/example.com/greet@v1.2.0-rc.1%23+incompatible",
		"/lookup/example.com/greet@v1.2.0-rc.1%20",
	} {
		resp, body := do(t, "GET", e.srv.URL+db+p)
		if resp.StatusCode != 400 || strings.Contains(body, "h1:") {
			t.Errorf("lookup %s: %d %q, want 400", p, resp.StatusCode, body)
		}
	}
	if n := e.up.Count(db + "/lookup/example.com/greet@v1.2.0-rc.1"); n != 0 {
		t.Errorf("malformed lookups reached the database %d times", n)
	}
}

// readyz says not ready when the store takes no writes (its directory is
// gone), even with the upstream up: a fetch could not be stored. The
// storage check writes to disk, so its answer is kept for a moment: a
// flood of unauthenticated probes is not a flood of writes.
func TestReadyzStorageNotWritable(t *testing.T) {
	dir := t.TempDir()
	store, err := fs.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingStore{Backend: store}
	cache, _ := modcache.New(modcache.Options{Store: counted, TempDir: t.TempDir(),
		Route: func(string) modcache.Route { return modcache.Route{} }})
	s := server.New(server.Options{Cache: cache, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		UpstreamProbe: func(context.Context) error { return nil }})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	for range 100 {
		if resp, body := do(t, "GET", srv.URL+"/readyz"); resp.StatusCode != 200 {
			t.Fatalf("readyz with a writable store: %d %q", resp.StatusCode, body)
		}
	}
	if n := counted.writable.Load(); n != 1 {
		t.Errorf("100 readyz calls made %d storage checks, want 1", n)
	}
	server.SetReadyTTLForTest(s, 100*time.Millisecond)
	time.Sleep(150 * time.Millisecond)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	resp, body := do(t, "GET", srv.URL+"/readyz")
	if resp.StatusCode != 503 || !strings.Contains(body, "storage") {
		t.Errorf("readyz with the store gone: %d %q", resp.StatusCode, body)
	}
}

type countingStore struct {
	storage.Backend
	writable atomic.Int64
}

func (c *countingStore) Writable(ctx context.Context) error {
	c.writable.Add(1)
	return c.Backend.Writable(ctx)
}

// A /readyz caller that hangs up at once must not make the next callers'
// answer "not ready": the checks run on the server's time, not the
// caller's, and their cached result is the upstream's and the store's, not
// the caller's cancellation. (/readyz needs no credentials: anyone who may
// connect could otherwise keep a replica out of its load balancer.)
func TestReadyzNotPoisonedByAClientThatHangsUp(t *testing.T) {
	store, _ := fs.New(t.TempDir())
	cache, _ := modcache.New(modcache.Options{Store: store, TempDir: t.TempDir(),
		Route: func(string) modcache.Route { return modcache.Route{} }})
	probe := func(ctx context.Context) error { // an upstream that answers in 100ms
		select {
		case <-time.After(100 * time.Millisecond):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s := server.New(server.Options{Cache: cache, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), UpstreamProbe: probe})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/readyz", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	cancel()
	time.Sleep(150 * time.Millisecond) // the abandoned check has ended
	if resp, body := do(t, "GET", srv.URL+"/readyz"); resp.StatusCode != 200 {
		t.Errorf("readyz after a caller hung up: %d %q", resp.StatusCode, body)
	}
}
