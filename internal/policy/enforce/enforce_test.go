package enforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/modindex"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

// env is the real request path: a hermetic upstream, the fs store, the
// verifying cache and the server, with the enforcer as its gate.
type env struct {
	up     *testproxy.Server
	cache  *modcache.Cache
	enf    *Enforcer
	srv    *httptest.Server
	file   string
	logBuf *testutil.Buffer
	index  *modindex.Index

	mu   sync.Mutex
	done []reqlog.Entry
}

// withGroups stands in for the authentication middleware: it puts an
// identity with the groups of the X-Test-Groups header into the context,
// which is all the policy reads of authentication.
func withGroups(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g := r.Header.Get("X-Test-Groups"); g != "" {
			id := &auth.Identity{Name: "tester", Method: "test", Groups: strings.Split(g, ",")}
			r = r.WithContext(auth.WithIdentity(r.Context(), id))
		}
		next.ServeHTTP(w, r)
	})
}

func newEnv(t testing.TB, policySrc string, setup ...func(up *testproxy.Server)) *env {
	t.Helper()
	up := testproxy.New(t)
	for _, f := range setup {
		f(up)
	}
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	chain, _ := upstream.ParseChain(up.URL, nil)
	checker, err := verify.NewSumDB(verify.SumDBOptions{Key: up.GOSUMDB(), URL: up.SumDBURL(), StateDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cache, err := modcache.New(modcache.Options{
		Store: store, TempDir: t.TempDir(), Logger: quiet,
		Route: func(string) modcache.Route { return modcache.Route{Name: "public", Source: chain, Checker: checker} },
	})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	copyDir(t, "../../vulndb/testdata/db", filepath.Join(dir, "vulndb"))
	e := &env{up: up, cache: cache, file: filepath.Join(dir, "policy.toml"), logBuf: &testutil.Buffer{}}
	e.write(t, policySrc)
	// The module index is the test upstream's fake (index.golang.org
	// cannot be reached from tests), in the format of the real one.
	e.index = modindex.New(modindex.Options{URL: up.IndexURL(), Poll: time.Hour, Logger: quiet})
	e.enf, err = New(Options{File: e.file, Source: cache, Logger: slog.New(slog.NewTextHandler(e.logBuf, nil)),
		Index: e.index, IndexContext: t.Context(), FirstSeenFile: filepath.Join(dir, "first-seen.json")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.enf.Flush) // before the temp dir goes: first-seen times are written in the background
	s := server.New(server.Options{Cache: cache, Logger: quiet, Gates: []server.Gate{e.enf},
		Middleware: []func(http.Handler) http.Handler{withGroups},
		OnDone: func(en *reqlog.Entry) {
			e.mu.Lock()
			e.done = append(e.done, *en)
			e.mu.Unlock()
		}})
	e.srv = httptest.NewServer(s.Handler())
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) write(t testing.TB, src string) {
	t.Helper()
	tmp := e.file + ".tmp"
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, e.file); err != nil {
		t.Fatal(err)
	}
}

func (e *env) get(t *testing.T, path string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", e.srv.URL+path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// entry returns the last log record for path.
func (e *env) entry(path string) *reqlog.Entry {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := len(e.done) - 1; i >= 0; i-- {
		if e.done[i].Path == path {
			en := e.done[i]
			return &en
		}
	}
	return nil
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVersionRangeDenied(t *testing.T) {
	e := newEnv(t, `
[[rule]]
name = "no-lib-1.3"
modules = ["example.com/lib"]
versions = ">=1.3.0"
action = "deny"
reason = "v1.3 breaks our builds"
`)
	for _, kind := range []string{"info", "mod", "zip"} {
		path := "/example.com/lib/@v/v1.3.0." + kind
		status, body := e.get(t, path)
		first, _, _ := strings.Cut(body, "\n")
		if status != 403 || first != `gatehouse policy: example.com/lib@v1.3.0 is denied by rule "no-lib-1.3": v1.3 breaks our builds` {
			t.Errorf("%s: %d %q", path, status, body)
		}
		if n := strings.Count(strings.TrimSpace(body), "\n") + 1; n > 8 {
			t.Errorf("%s: %d lines, the go command shows 8", path, n)
		}
		if en := e.entry(path); en == nil || en.Decision != "deny" || en.Rule != "no-lib-1.3" || en.Status != 403 || !strings.Contains(en.Reason, "v1.3 breaks") {
			t.Errorf("%s: log entry %+v", path, en)
		}
		if n := e.up.Count("/example.com/lib/@v/v1.3.0." + kind); n != 0 {
			t.Errorf("denied %s fetched upstream %d times", kind, n)
		}
	}
	if status, _ := e.get(t, "/example.com/lib/@v/v1.2.0.zip"); status != 200 {
		t.Errorf("allowed version: %d", status)
	}
	if en := e.entry("/example.com/lib/@v/v1.2.0.zip"); en.Decision != "allow" || en.Rule != "default" {
		t.Errorf("allowed version's log entry: %+v", en)
	}
	if _, list := e.get(t, "/example.com/lib/@v/list"); list != "v1.0.0\nv1.1.0\nv1.2.0\n" {
		t.Errorf("list = %q", list)
	}
	if en := e.entry("/example.com/lib/@v/list"); en.Rule != "no-lib-1.3" || !strings.Contains(en.Reason, "hid v1.3.0") {
		t.Errorf("list log entry: %+v", en)
	}
	if _, latest := e.get(t, "/example.com/lib/@latest"); !strings.Contains(latest, `"Version":"v1.2.0"`) {
		t.Errorf("latest = %q", latest)
	}
}

func TestMinAge(t *testing.T) {
	fresh := time.Now().Add(-time.Hour)
	e := newEnv(t, `
[[rule]]
name = "cool-down"
min_age = "72h"
action = "deny"
reason = "new releases wait 72h"
`, func(up *testproxy.Server) {
		up.Add("example.com/lib", "v1.4.0", map[string]string{"go.mod": "module example.com/lib\n", "lib.go": "package lib\n"}, fresh)
	})
	status, body := e.get(t, "/example.com/lib/@v/v1.4.0.zip")
	if status != 403 || !strings.Contains(body, `rule "cool-down": new releases wait 72h`) || !strings.Contains(body, "min_age is 72h") {
		t.Errorf("fresh version: %d %q", status, body)
	}
	if _, list := e.get(t, "/example.com/lib/@v/list"); list != "v1.0.0\nv1.1.0\nv1.2.0\nv1.3.0\n" {
		t.Errorf("list = %q", list)
	}
	if _, latest := e.get(t, "/example.com/lib/@latest"); !strings.Contains(latest, `"Version":"v1.3.0"`) {
		t.Errorf("latest = %q", latest)
	}
	// Times are cached: a second list asks the upstream for no .info.
	before := e.up.TotalCount()
	e.get(t, "/example.com/lib/@v/list")
	if n := e.up.TotalCount() - before; n != 1 {
		t.Errorf("second list made %d upstream requests, want 1 (the list)", n)
	}
	// A version the upstream does not have is a 404, as without a policy.
	if status, _ := e.get(t, "/example.com/lib/@v/v1.9.9.info"); status != 404 {
		t.Errorf("missing version: %d", status)
	}
}

func TestRetracted(t *testing.T) {
	e := newEnv(t, `
[[rule]]
name = "retracted"
retracted = true
action = "deny"
reason = "retracted versions are not served"
`)
	status, body := e.get(t, "/example.com/retracted/@v/v1.2.0.mod")
	if status != 403 || !strings.Contains(body, `rule "retracted"`) || !strings.Contains(body, "published by mistake") {
		t.Errorf("retracted version: %d %q", status, body)
	}
	if _, list := e.get(t, "/example.com/retracted/@v/list"); list != "v1.0.0\nv1.1.0\n" {
		t.Errorf("list = %q", list)
	}
	if _, latest := e.get(t, "/example.com/retracted/@latest"); !strings.Contains(latest, `"Version":"v1.1.0"`) {
		t.Errorf("latest = %q", latest)
	}
	if status, _ := e.get(t, "/example.com/lib/@v/v1.3.0.mod"); status != 200 {
		t.Errorf("module without retractions: %d", status)
	}
}

func TestVulnerable(t *testing.T) {
	e := newEnv(t, `
vuln_db = "vulndb"
[[rule]]
name = "vulns"
vulnerable = true
min_severity = "high"
action = "deny"
reason = "known vulnerability"
`)
	// The fixture database: GO-2099-0001 (critical) affects v1.2.0,
	// GO-2099-0002 (low) affects v1.0.0.
	status, body := e.get(t, "/example.com/lib/@v/v1.2.0.zip")
	if status != 403 || !strings.Contains(body, "GO-2099-0001 (critical)") {
		t.Errorf("vulnerable version: %d %q", status, body)
	}
	if _, list := e.get(t, "/example.com/lib/@v/list"); list != "v1.0.0\nv1.1.0\nv1.3.0\n" {
		t.Errorf("list = %q", list)
	}
}

func TestGroups(t *testing.T) {
	e := newEnv(t, `
[[rule]]
name = "lib-for-team-a"
modules = ["example.com/lib"]
groups = ["team-a"]
action = "allow"
[[rule]]
name = "lib-others"
modules = ["example.com/lib"]
action = "deny"
reason = "example.com/lib is team-a's"
`)
	for _, tt := range []struct {
		groups string
		want   int
	}{{"team-a", 200}, {"team-b,team-c", 403}, {"", 403}} {
		for _, p := range []string{"/example.com/lib/@v/list", "/example.com/lib/@latest", "/example.com/lib/@v/v1.0.0.info"} {
			status, body := e.get(t, p, "X-Test-Groups", tt.groups)
			if status != tt.want {
				t.Errorf("%s as %q: %d %q, want %d", p, tt.groups, status, body, tt.want)
			}
			if status == 403 && !strings.Contains(body, "team-a's") {
				t.Errorf("%s: refusal lacks the reason: %q", p, body)
			}
		}
	}
	if status, _ := e.get(t, "/example.com/greet/@v/list"); status != 200 {
		t.Errorf("other module: %d", status)
	}
}

func TestDryRunLetsThrough(t *testing.T) {
	e := newEnv(t, `
dry_run = true
[[rule]]
name = "no-lib-1.3"
modules = ["example.com/lib"]
versions = ">=1.3.0"
action = "deny"
reason = "trying this out"
`)
	status, _ := e.get(t, "/example.com/lib/@v/v1.3.0.info")
	if status != 200 {
		t.Errorf("dry run refused: %d", status)
	}
	if en := e.entry("/example.com/lib/@v/v1.3.0.info"); en.Decision != "would-deny" || en.Rule != "no-lib-1.3" || en.Reason != "trying this out" {
		t.Errorf("log entry: %+v", en)
	}
	if _, list := e.get(t, "/example.com/lib/@v/list"); !strings.Contains(list, "v1.3.0") {
		t.Errorf("dry run filtered the list: %q", list)
	}
	if en := e.entry("/example.com/lib/@v/list"); en.Decision != "would-deny" || !strings.Contains(en.Reason, "would hide v1.3.0") {
		t.Errorf("list log entry: %+v", en)
	}
}

func TestReload(t *testing.T) {
	e := newEnv(t, `
[[rule]]
name = "a"
modules = ["example.com/lib"]
action = "deny"
reason = "policy A"
`)
	if status, _ := e.get(t, "/example.com/lib/@v/v1.0.0.info"); status != 403 {
		t.Fatalf("policy A not in force: %d", status)
	}
	e.write(t, "default = \"allow\"\n")
	if err := e.enf.Reload(); err != nil {
		t.Fatal(err)
	}
	if status, _ := e.get(t, "/example.com/lib/@v/v1.0.0.info"); status != 200 {
		t.Errorf("after reload: %d", status)
	}
	e.write(t, "[[rule]]\naction = \"deny\"\nreason = \"everything\"\n\n[[rule]]\naction = \"forbid\"\n")
	err := e.enf.Reload()
	if err == nil || !strings.Contains(err.Error(), ":6:") {
		t.Errorf("bad file: err = %v, want its line 6", err)
	}
	if status, _ := e.get(t, "/example.com/lib/@v/v1.0.0.info"); status != 200 {
		t.Errorf("bad file replaced the policy: %d", status)
	}
	if !strings.Contains(e.logBuf.String(), "policy reload refused") {
		t.Errorf("no error logged:\n%s", e.logBuf.String())
	}

	// Watch picks up a change of the file, and SIGHUP forces a reload.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	go func() { e.enf.Watch(ctx, hup, 20*time.Millisecond); close(done) }()
	e.write(t, "default = \"deny\"\ndefault_reason = \"closed\"\n")
	waitFor(t, func() bool { return !e.enf.Policy().DefaultAllow })
	if status, body := e.get(t, "/example.com/lib/@v/v1.0.0.info"); status != 403 || !strings.Contains(body, "closed") {
		t.Errorf("after file change: %d %q", status, body)
	}
	p := e.enf.Policy()
	hup <- os.Interrupt
	waitFor(t, func() bool { return e.enf.Policy() != p })
	cancel()
	<-done
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 5s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Requests keep flowing while the policy is swapped back and forth (and a
// bad file is tried) as fast as it will go: every answer is one of the two
// policies' answers, none fails.
func TestReloadUnderLoad(t *testing.T) {
	policyA := "[[rule]]\nname = \"a\"\nmodules = [\"example.com/lib\"]\nversions = \"v1.0.0\"\naction = \"deny\"\nreason = \"A\"\n"
	policyB := "[[rule]]\nname = \"b\"\nmodules = [\"example.com/lib\"]\nversions = \"v1.1.0\"\naction = \"deny\"\nreason = \"B\"\n"
	e := newEnv(t, policyA)
	// Warm the cache so the load measures the gate, not the upstream.
	for _, v := range []string{"v1.0.0", "v1.1.0", "v1.2.0"} {
		if _, err := e.cache.ReadInfo(context.Background(), "example.com/lib", v); err != nil {
			t.Fatal(err)
		}
	}
	const workers, perWorker = 4, 150
	var failures, served, refused atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	go func() {
		srcs := []string{policyB, "[[rule]]\naction = \"nope\"\n", policyA}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			// Write, then rename: a reader sees the old or the new file, whole.
			tmp := e.file + ".load"
			os.WriteFile(tmp, []byte(srcs[i%len(srcs)]), 0o644)
			os.Rename(tmp, e.file)
			e.enf.Reload()
		}
	}()
	client := &http.Client{Timeout: 10 * time.Second}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				v := []string{"v1.0.0", "v1.1.0", "v1.2.0"}[i%3]
				resp, err := client.Get(e.srv.URL + "/example.com/lib/@v/" + v + ".info")
				if err != nil {
					failures.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == 200 && strings.Contains(string(body), v):
					served.Add(1)
				case resp.StatusCode == 403 && (v == "v1.0.0" && strings.Contains(string(body), `rule "a": A`) || v == "v1.1.0" && strings.Contains(string(body), `rule "b": B`)):
					refused.Add(1)
				default:
					failures.Add(1)
					t.Errorf("%s: %d %q", v, resp.StatusCode, body)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	if failures.Load() != 0 || served.Load()+refused.Load() != workers*perWorker {
		t.Errorf("%d failures, %d served, %d refused of %d", failures.Load(), served.Load(), refused.Load(), workers*perWorker)
	}
	if refused.Load() == 0 || served.Load() == 0 {
		t.Errorf("load did not exercise both outcomes: %d served, %d refused", served.Load(), refused.Load())
	}
	t.Logf("%d requests, %d refused, with reloads running concurrently", workers*perWorker, refused.Load())
}

func TestDeniedErrorFitsGo(t *testing.T) {
	e := newEnv(t, "[[rule]]\nname = \""+strings.Repeat("r", 90)+"\"\naction = \"deny\"\nreason = \""+strings.Repeat("long reason ", 60)+"\"\n")
	status, body := e.get(t, "/example.com/lib/@v/v1.0.0.info")
	if status != 403 || len(body) > 648 || strings.Count(body, "\n") > 8 || !strings.HasPrefix(body, "gatehouse policy: example.com/lib@v1.0.0 is denied by rule") {
		t.Errorf("%d %d bytes %q", status, len(body), body)
	}
}

// A new copy of the vulnerability database is picked up by the same
// watch that follows the policy file: its index is part of the fingerprint.
func TestVulnDBRefresh(t *testing.T) {
	e := newEnv(t, "vuln_db = \"vulndb\"\n[[rule]]\nname = \"vulns\"\nvulnerable = true\naction = \"deny\"\nreason = \"known vulnerability\"\n")
	if status, _ := e.get(t, "/example.com/greet/@v/v1.0.0.info"); status != 200 {
		t.Fatalf("greet before the update: %d", status)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.enf.Watch(ctx, nil, 20*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()
	dir := filepath.Join(filepath.Dir(e.file), "vulndb")
	entry := `{"id":"GO-2099-0900","affected":[{"package":{"name":"example.com/greet"}}]}`
	if err := os.WriteFile(filepath.Join(dir, "ID", "GO-2099-0900.json"), []byte(entry), 0o644); err != nil {
		t.Fatal(err)
	}
	index := `[{"path":"example.com/greet","vulns":[{"id":"GO-2099-0900"}]}]`
	if err := os.WriteFile(filepath.Join(dir, "index", "modules.json"), []byte(index), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return e.enf.Policy().Vulns.Has("example.com/greet") })
	if status, body := e.get(t, "/example.com/greet/@v/v1.0.0.info"); status != 403 || !strings.Contains(body, "GO-2099-0900") {
		t.Errorf("greet after the update: %d %q", status, body)
	}
}

// BenchmarkFilterVersions measures the gate on a warm cache: a list of 4
// versions under a policy with a cool-down, a retraction rule and a
// vulnerability rule, so every fact is consulted.
func BenchmarkFilterVersions(b *testing.B) {
	e := newEnv(b, "vuln_db = \"vulndb\"\n"+
		"[[rule]]\nname = \"vulns\"\nvulnerable = true\naction = \"deny\"\nreason = \"v\"\n"+
		"[[rule]]\nname = \"retracted\"\nretracted = true\naction = \"deny\"\nreason = \"r\"\n"+
		"[[rule]]\nname = \"cool-down\"\nmin_age = \"72h\"\naction = \"deny\"\nreason = \"c\"\n")
	versions := []string{"v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0"}
	ctx := context.Background()
	if _, err := e.enf.FilterVersions(ctx, "example.com/lib", versions); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := e.enf.FilterVersions(ctx, "example.com/lib", versions); err != nil {
			b.Fatal(err)
		}
	}
}

// Without the facts a rule needs, nothing is let through: a direct
// request gets a 502 that says why, and no fetch of the artifact happens.
func TestFactsUnavailableFailsClosed(t *testing.T) {
	e := newEnv(t, "[[rule]]\nname = \"cool-down\"\nmin_age = \"72h\"\naction = \"deny\"\nreason = \"too new\"\n")
	e.up.SetStatus(http.StatusInternalServerError)
	status, body := e.get(t, "/example.com/lib/@v/v1.0.0.zip")
	if status != 502 || !strings.HasPrefix(body, "gatehouse policy: cannot check example.com/lib@v1.0.0") {
		t.Errorf("upstream down: %d %q", status, body)
	}
	if n := e.up.Count("/example.com/lib/@v/v1.0.0.zip"); n != 0 {
		t.Errorf("zip fetched %d times without a decision", n)
	}
	if en := e.entry("/example.com/lib/@v/v1.0.0.zip"); en.Decision != "error" {
		t.Errorf("log entry: %+v", en)
	}
	if !strings.Contains(e.logBuf.String(), "policy: cannot decide") {
		t.Errorf("no warning logged:\n%s", e.logBuf.String())
	}
}

// An upstream that dates a release in the future to slip past the
// cool-down is refused: a future time is younger than any min_age.
func TestFutureTimeIsTooNew(t *testing.T) {
	e := newEnv(t, "[[rule]]\nname = \"cool-down\"\nmin_age = \"72h\"\naction = \"deny\"\nreason = \"too new\"\n",
		func(up *testproxy.Server) {
			up.Add("example.com/lib", "v1.5.0", map[string]string{"go.mod": "module example.com/lib\n"}, time.Now().Add(1000*time.Hour))
		})
	if status, body := e.get(t, "/example.com/lib/@v/v1.5.0.zip"); status != 403 || !strings.Contains(body, `rule "cool-down"`) {
		t.Errorf("future-dated release: %d %q", status, body)
	}
	if _, latest := e.get(t, "/example.com/lib/@latest"); !strings.Contains(latest, `"Version":"v1.3.0"`) {
		t.Errorf("latest = %q", latest)
	}
}

// A cold list of many versions under a cool-down fetches each .info once
// (concurrently, bounded), and a warm one fetches none.
func TestManyVersionsFetchedOnce(t *testing.T) {
	const n = 100
	old := time.Now().Add(-1000 * time.Hour)
	e := newEnv(t, "[[rule]]\nname = \"cool-down\"\nmin_age = \"72h\"\naction = \"deny\"\nreason = \"too new\"\n",
		func(up *testproxy.Server) {
			for i := 0; i < n; i++ {
				tm := old
				if i == n-1 {
					tm = time.Now()
				}
				up.Add("example.com/many", fmt.Sprintf("v1.0.%d", i), map[string]string{"go.mod": "module example.com/many\n"}, tm)
			}
		})
	start := time.Now()
	_, list := e.get(t, "/example.com/many/@v/list")
	cold := time.Since(start)
	if got := strings.Count(list, "\n"); got != n-1 || strings.Contains(list, fmt.Sprintf("v1.0.%d\n", n-1)) {
		t.Errorf("list has %d versions (want %d, without the fresh one)", got, n-1)
	}
	for i := 0; i < n; i++ {
		if c := e.up.Count(fmt.Sprintf("/example.com/many/@v/v1.0.%d.info", i)); c != 1 {
			t.Errorf("v1.0.%d.info fetched %d times", i, c)
		}
	}
	before := e.up.TotalCount()
	start = time.Now()
	e.get(t, "/example.com/many/@v/list")
	warm := time.Since(start)
	if d := e.up.TotalCount() - before; d != 1 {
		t.Errorf("warm list made %d upstream requests, want 1 (the list)", d)
	}
	t.Logf("list of %d versions: cold %v, warm %v", n, cold.Round(time.Millisecond), warm.Round(time.Microsecond))
}

// A case variant or VCS-qualified path of the same repository gets the
// rule written for the canonical path: refused directly, hidden from the
// list and from @latest. A rule naming the other spelling itself still works.
func TestOtherSpellings(t *testing.T) {
	old := time.Now().Add(-1000 * time.Hour)
	e := newEnv(t, `
[[rule]]
name = "no-lib-1.3"
modules = ["example.com/lib"]
versions = ">=1.3.0"
action = "deny"
reason = "v1.3 breaks our builds"
[[rule]]
name = "no-git-tool"
modules = ["example.com/tool.git"]
action = "deny"
reason = "not this one"
`, func(up *testproxy.Server) {
		for _, mod := range []string{"example.com/Lib", "example.com/lib.git", "example.com/tool.git", "example.com/tool"} {
			for _, v := range []string{"v1.2.0", "v1.3.0"} {
				up.Add(mod, v, map[string]string{"go.mod": "module " + mod + "\n"}, old)
			}
		}
	})
	for _, esc := range []string{"example.com/!lib", "example.com/lib.git"} {
		status, body := e.get(t, "/"+esc+"/@v/v1.3.0.info")
		if status != 403 || !strings.Contains(body, `rule "no-lib-1.3" (as example.com/lib): v1.3 breaks`) {
			t.Errorf("%s@v1.3.0: %d %q", esc, status, body)
		}
		if en := e.entry("/" + esc + "/@v/v1.3.0.info"); en == nil || en.Decision != "deny" || en.Rule != "no-lib-1.3" {
			t.Errorf("%s@v1.3.0: log entry %+v", esc, en)
		}
		if status, _ := e.get(t, "/"+esc+"/@v/v1.2.0.info"); status != 200 {
			t.Errorf("%s@v1.2.0: %d", esc, status)
		}
		if _, list := e.get(t, "/"+esc+"/@v/list"); list != "v1.2.0\n" {
			t.Errorf("%s list = %q", esc, list)
		}
		if _, latest := e.get(t, "/"+esc+"/@latest"); !strings.Contains(latest, `"Version":"v1.2.0"`) {
			t.Errorf("%s latest = %q", esc, latest)
		}
	}
	// The rule that names the .git spelling denies it, and only it.
	if status, body := e.get(t, "/example.com/tool.git/@v/list"); status != 403 || !strings.Contains(body, `rule "no-git-tool": not this one`) {
		t.Errorf("tool.git list: %d %q", status, body)
	}
	if _, list := e.get(t, "/example.com/tool/@v/list"); list != "v1.2.0\nv1.3.0\n" {
		t.Errorf("tool list = %q", list)
	}
}

// A pseudo-version of the commit of a denied tag is refused like the tag,
// whether the tag's .info names its commit (Origin.Hash) or only its time;
// a pseudo-version of another commit is not.
func TestPseudoVersionOfDeniedTag(t *testing.T) {
	const hash = "0123456789abcdef0123456789abcdef01234567"
	tagTime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	e := newEnv(t, `
[[rule]]
name = "incident"
module_versions = ["example.com/pv@v1.0.0", "example.com/nohash@v1.0.0"]
action = "deny"
reason = "compromised release"
`, func(up *testproxy.Server) {
		for _, mod := range []string{"example.com/pv", "example.com/nohash"} {
			f := map[string]string{"go.mod": "module " + mod + "\n", "pv.go": "package pv\n"}
			up.Add(mod, "v1.0.0", f, tagTime)
			up.Add(mod, "v1.1.0", f, tagTime.Add(time.Hour))
			for _, pv := range []string{"v0.0.0-20200102030405-0123456789ab", "v0.9.1-0.20200102030405-0123456789ab",
				"v1.0.1-0.20200102030405-0123456789ab", "v0.0.0-20200102030405-0123456789AB", "v0.0.0-20200102040405-fedcba987654"} {
				up.Add(mod, pv, f, tagTime)
			}
		}
		// proxy.golang.org's .info names the commit; an older one does not.
		up.Tamper("example.com/pv", "v1.0.0", "info", []byte(`{"Version":"v1.0.0","Time":"2020-01-02T03:04:05Z","Origin":{"VCS":"git","Hash":"`+hash+`","Ref":"refs/tags/v1.0.0"}}`))
		up.Tamper("example.com/pv", "v1.1.0", "info", []byte(`{"Version":"v1.1.0","Time":"2020-01-02T04:04:05Z","Origin":{"VCS":"git","Hash":"fedcba9876543210fedcba9876543210fedcba98"}}`))
	})
	for _, mod := range []string{"example.com/pv", "example.com/nohash"} {
		for _, pv := range []string{"v0.0.0-20200102030405-0123456789ab", "v0.9.1-0.20200102030405-0123456789ab",
			"v1.0.1-0.20200102030405-0123456789ab", "v0.0.0-20200102030405-0123456789AB"} {
			for _, kind := range []string{"info", "mod", "zip"} {
				esc, _ := module.EscapeVersion(pv) // upper case: !a!b
				path := "/" + mod + "/@v/" + esc + "." + kind
				status, body := e.get(t, path)
				if status != 403 || !strings.Contains(body, `denied by rule "incident" (as v1.0.0, a tag of the same commit): compromised release`) {
					t.Errorf("%s: %d %q", path, status, body)
				}
				if n := e.up.Count(path); n != 0 {
					t.Errorf("%s fetched upstream %d times", path, n)
				}
			}
		}
		// Another commit (the allowed v1.1.0's) is allowed.
		if status, body := e.get(t, "/"+mod+"/@v/v0.0.0-20200102040405-fedcba987654.zip"); status != 200 {
			t.Errorf("%s: pseudo-version of an allowed commit: %d %q", mod, status, body)
		}
	}
	if en := e.entry("/example.com/pv/@v/v0.0.0-20200102030405-0123456789ab.zip"); en == nil || en.Decision != "deny" || en.Rule != "incident" {
		t.Errorf("log entry: %+v", en)
	}
}

// min_age counts from when the mirror first had the version (the module
// index), not from the commit time its author chose: a commit backdated
// to 2020 and published now is held back.
func TestMinAgeBackdatedCommit(t *testing.T) {
	backdated := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	e := newEnv(t, "[[rule]]\nname = \"cool-down\"\nmin_age = \"72h\"\naction = \"deny\"\nreason = \"new releases wait 72h\"\n",
		func(up *testproxy.Server) {
			up.Add("example.com/lib", "v1.4.0", map[string]string{"go.mod": "module example.com/lib\n"}, backdated)
			up.SetIndexTime("example.com/lib", "v1.4.0", time.Now().Add(-time.Hour))
		})
	status, body := e.get(t, "/example.com/lib/@v/v1.4.0.zip")
	if status != 403 || !strings.Contains(body, `rule "cool-down"`) || !strings.Contains(body, "1h0m") && !strings.Contains(body, ", 1h ago") {
		t.Errorf("backdated release: %d %q", status, body)
	}
	if _, list := e.get(t, "/example.com/lib/@v/list"); list != "v1.0.0\nv1.1.0\nv1.2.0\nv1.3.0\n" {
		t.Errorf("list = %q", list)
	}
	// Versions older than the index's window are not in it: old enough.
	if status, _ := e.get(t, "/example.com/lib/@v/v1.3.0.zip"); status != 200 {
		t.Errorf("old version: %d", status)
	}
}

// Where the index cannot date a version (unreachable here), min_age falls
// back to when gatehouse first saw it, never to the commit time unless
// configured so.
func TestMinAgeFallback(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	t.Cleanup(down.Close)
	for _, tt := range []struct {
		commitTime bool
		want       int
	}{{false, 403}, {true, 200}} {
		e := newEnv(t, "[[rule]]\nname = \"cool-down\"\nmin_age = \"72h\"\naction = \"deny\"\nreason = \"new releases wait 72h\"\n")
		dir := t.TempDir()
		enf, err := New(Options{File: e.file, Source: e.cache, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Index: modindex.New(modindex.Options{URL: down.URL, Wait: time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}), IndexContext: t.Context(),
			FirstSeenFile: filepath.Join(dir, "first-seen.json"), CommitTimeFallback: tt.commitTime})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(enf.Flush)
		err = enf.Admit(context.Background(), goproxy.Request{Module: "example.com/lib", Version: "v1.0.0", Kind: goproxy.KindZip})
		if got := statusOf(err); got != tt.want {
			t.Errorf("commit_time fallback %v: %d (%v), want %d", tt.commitTime, got, err, tt.want)
		}
	}
}

func statusOf(err error) int {
	var se interface{ HTTPStatus() int }
	if err == nil {
		return 200
	}
	if errors.As(err, &se) {
		return se.HTTPStatus()
	}
	return 500
}

// First-seen times come back after a restart; a file cut short or emptied
// does not stop the start (the times begin again from now, which only
// holds versions back longer).
func TestFirstSeenPersists(t *testing.T) {
	file := filepath.Join(t.TempDir(), "first-seen.json")
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := openFirstSeen(file, quiet)
	t1 := a.Record("git.corp.test/lib@v1.0.0")
	a.Flush()
	time.Sleep(5 * time.Millisecond)
	b := openFirstSeen(file, quiet)
	if got := b.Record("git.corp.test/lib@v1.0.0"); !got.Equal(t1) {
		t.Errorf("after restart: %v, want %v", got, t1)
	}
	data, _ := os.ReadFile(file)
	for _, bad := range [][]byte{nil, data[:len(data)/2]} {
		os.WriteFile(file, bad, 0o600)
		c := openFirstSeen(file, quiet)
		if got := c.Record("git.corp.test/lib@v1.0.0"); !got.After(t1) {
			t.Errorf("after a file of %d bytes: %v, want a new time", len(bad), got)
		}
		c.Flush()
		if _, err := os.Stat(file + ".bad"); err != nil {
			t.Errorf("the bad file was not set aside: %v", err)
		}
		if data, err := os.ReadFile(file); err != nil || !json.Valid(data) {
			t.Errorf("the file was not rewritten whole: %q %v", data, err)
		}
	}
}

// A private module is dated by gatehouse's first sight of the tag only:
// neither the commit time nor a public index (which may list a version of
// the same path published by someone else) counts.
func TestMinAgePrivateUsesFirstSight(t *testing.T) {
	e := newEnv(t, "[[rule]]\nname = \"cool-down\"\nmin_age = \"72h\"\naction = \"deny\"\nreason = \"new releases wait 72h\"\n")
	first := filepath.Join(t.TempDir(), "first-seen.json")
	open := func() *Enforcer {
		enf, err := New(Options{File: e.file, Source: e.cache, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Index: e.index, IndexContext: t.Context(), FirstSeenFile: first,
			Private: func(p string) bool { return p == "example.com/lib" }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(enf.Flush)
		return enf
	}
	req := goproxy.Request{Module: "example.com/lib", Version: "v1.0.0", Kind: goproxy.KindInfo}
	first1 := open()
	err := first1.Admit(context.Background(), req)
	var denied *DeniedError
	if !errors.As(err, &denied) || !strings.Contains(denied.Decision.Detail, "min_age is 72h") {
		t.Fatalf("private tag seen for the first time: %v", err)
	}
	first1.Flush()
	// The same tag after a restart: still dated by that first sight.
	err = open().Admit(context.Background(), req)
	var again *DeniedError
	if !errors.As(err, &again) || again.Decision.Detail[:30] != denied.Decision.Detail[:30] {
		t.Errorf("after restart: %v, want the same first sight as %q", err, denied.Decision.Detail)
	}
	// A public module of the same age is dated by the index: old enough.
	if err := open().Admit(context.Background(), goproxy.Request{Module: "example.com/hello", Version: "v1.0.0", Kind: goproxy.KindInfo}); err != nil {
		t.Errorf("public module: %v", err)
	}
}
