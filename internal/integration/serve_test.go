package integration

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// The real go command downloads, verifies and builds a project through
// gatehouse, and a second client with an empty module cache is served
// entirely from gatehouse's store.
func TestGoCommandThroughGatehouse(t *testing.T) {
	up := testproxy.New(t)
	p := serveTestUpstream(t, up)
	dir := project(t)
	env := goEnv(t, p, up)
	testutil.MustGo(t, dir, env, "mod", "tidy")
	testutil.MustGo(t, dir, env, "mod", "download", "all")
	if out := testutil.MustGo(t, dir, env, "mod", "verify"); !strings.Contains(out, "all modules verified") {
		t.Fatalf("go mod verify: %s", out)
	}
	if out := testutil.MustGo(t, dir, env, "run", "."); !strings.Contains(out, "Hello, world!! Hello, WORLD!!") {
		t.Fatalf("go run: %s", out)
	}
	gosum, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
	for _, m := range []string{"example.com/hello v1.0.0 h1:", "example.com/hello/v2 v2.0.0 h1:", "example.com/greet v1.1.0 h1:", "example.com/Caps v1.0.0 h1:"} {
		if !strings.Contains(string(gosum), m) {
			t.Errorf("go.sum lacks %q:\n%s", m, gosum)
		}
	}

	before := up.TotalCount()
	env2 := goEnv(t, p, up) // fresh module cache
	testutil.MustGo(t, dir, env2, "mod", "download", "all")
	testutil.MustGo(t, dir, env2, "mod", "verify")
	// The second client's lookups of the checksum database pass through to
	// the upstream database, but no artifact is fetched again.
	for _, a := range []string{"/example.com/hello/@v/v1.0.0.zip", "/example.com/greet/@v/v1.1.0.zip", "/example.com/hello/v2/@v/v2.0.0.mod"} {
		if n := up.Count(a); n != 1 {
			t.Errorf("upstream served %s %d times, want once", a, n)
		}
	}
	t.Logf("second client: %d upstream requests (checksum database only)", up.TotalCount()-before)
	if !p.LogsContain("cache=hit") || !p.LogsContain("cache=miss") {
		t.Errorf("access log lacks cache hit/miss:\n%s", p.Logs())
	}

	// The store is a valid GOPROXY=file:// tree: a third client builds from
	// it with no server at all, verified against go.sum.
	p.stop(t)
	env3 := testutil.GoEnv(t, "GOPROXY=file://"+p.Data, "GOSUMDB=off", "GOFLAGS=-mod=mod -modcacherw")
	testutil.MustGo(t, dir, env3, "mod", "download", "all")
	testutil.MustGo(t, dir, env3, "mod", "verify")
	if out := testutil.MustGo(t, dir, env3, "run", "."); !strings.Contains(out, "Hello, world!") {
		t.Fatalf("go run from file:// store: %s", out)
	}
}

func tamperedZip(t *testing.T, up *testproxy.Server, mod, vers string) []byte {
	evil, err := testproxy.BuildZip(mod, vers, map[string]string{
		"go.mod":   string(up.Artifacts(mod, vers).Mod),
		"hello.go": "package hello\n\nfunc World() string { return \"pwned\" }\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	return evil
}

// A tampered upstream is refused by gatehouse itself, with the security
// message first in the go command's output, and nothing is stored.
func TestTamperedUpstreamRefused(t *testing.T) {
	for _, kind := range []string{"zip", "mod"} {
		t.Run(kind, func(t *testing.T) {
			up := testproxy.New(t)
			if kind == "zip" {
				up.Tamper("example.com/hello/v2", "v2.0.0", "zip", tamperedZip(t, up, "example.com/hello/v2", "v2.0.0"))
			} else {
				up.Tamper("example.com/hello/v2", "v2.0.0", "mod", []byte("module example.com/hello/v2\n\nrequire example.com/evil v1.0.0\n"))
			}
			p := serveTestUpstream(t, up)
			out, err := testutil.Go(t, t.TempDir(), goEnv(t, p, up), "mod", "download", "-x", "example.com/hello/v2@v2.0.0")
			if err == nil {
				t.Fatalf("tampered %s accepted:\n%s", kind, out)
			}
			if !strings.Contains(out, "SECURITY ERROR: checksum mismatch for example.com/hello/v2@v2.0.0") {
				t.Errorf("go output lacks gatehouse's security error:\n%s", out)
			}
			if !strings.Contains(out, "downloaded: h1:") || !strings.Contains(out, testproxy.SumDBName) {
				t.Errorf("go output does not name both hashes:\n%s", out)
			}
			stored := filepath.Join(p.Data, "example.com", "hello", "v2", "@v", "v2.0.0."+kind)
			if _, err := os.Stat(stored); err == nil {
				t.Errorf("tampered %s was stored at %s", kind, stored)
			}
			if !p.LogsContain("SECURITY") {
				t.Errorf("no security event in gatehouse's log")
			}
		})
	}
}

// fixedStatus is an upstream that answers every request with one status.
func fixedStatus(t *testing.T, status int) string {
	t.Helper()
	up := testproxy.New(t)
	up.SetStatus(status)
	return up.URL
}

func TestUpstreamFallback(t *testing.T) {
	tests := []struct {
		name   string
		first  int
		sep    string
		wantOK bool
	}{
		{"comma falls through on 404", http.StatusNotFound, ",", true},
		{"comma falls through on 410", http.StatusGone, ",", true},
		{"comma stops on 500", http.StatusInternalServerError, ",", false},
		{"pipe falls through on 500", http.StatusInternalServerError, "|", true},
		{"pipe falls through on 403", http.StatusForbidden, "|", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := testproxy.New(t)
			first := fixedStatus(t, tt.first)
			p := startServe(t, "", "--upstream", first+tt.sep+good.URL, "--sumdb", good.GOSUMDB(), "--sumdb-url", good.SumDBURL())
			out, err := testutil.Go(t, t.TempDir(), goEnv(t, p, good), "mod", "download", "-json", "example.com/greet@v1.0.0")
			if (err == nil) != tt.wantOK {
				t.Fatalf("go mod download: err = %v, want ok = %v\n%s", err, tt.wantOK, out)
			}
			if tt.wantOK && !strings.Contains(out, `"Sum": "h1:`) {
				t.Errorf("no verified sum in output:\n%s", out)
			}
		})
	}
}

// After a restart with the upstream gone, everything downloaded before is
// still served from disk.
func TestRestartServesFromDiskWithUpstreamGone(t *testing.T) {
	up := testproxy.New(t)
	data := t.TempDir()
	p := startServe(t, data, "--upstream", up.URL, "--sumdb", up.GOSUMDB())
	dir := project(t)
	testutil.MustGo(t, dir, goEnv(t, p, up), "mod", "tidy")
	testutil.MustGo(t, dir, goEnv(t, p, up), "mod", "download", "all")
	if code := p.stop(t); code != 0 {
		t.Fatalf("gatehouse exit code %d on SIGTERM", code)
	}
	up.Close()

	p2 := startServe(t, data, "--upstream", up.URL, "--sumdb", up.GOSUMDB())
	env := goEnv(t, p2, up)
	testutil.MustGo(t, dir, env, "mod", "download", "all")
	testutil.MustGo(t, dir, env, "mod", "verify")
	if out := testutil.MustGo(t, dir, env, "build", "-o", os.DevNull, "."); strings.Contains(out, "error") {
		t.Fatal(out)
	}
	out := testutil.MustGo(t, dir, env, "list", "-m", "-versions", "example.com/hello")
	if !strings.Contains(out, "v1.0.0") {
		t.Errorf("version list from disk: %q", out)
	}
}

// SIGTERM lets an in-flight download finish before the process exits.
func TestGracefulShutdown(t *testing.T) {
	up := testproxy.New(t)
	p := serveTestUpstream(t, up)
	up.SetDelay(time.Second)
	var wg sync.WaitGroup
	var status int
	var body string
	wg.Add(1)
	go func() {
		defer wg.Done()
		resp, b := get(t, p.URL+"/example.com/greet/@v/v1.0.0.mod")
		status, body = resp.StatusCode, b
	}()
	time.Sleep(300 * time.Millisecond)
	code := p.stop(t)
	wg.Wait()
	if status != 200 || !strings.HasPrefix(body, "module example.com/greet") {
		t.Errorf("in-flight request during shutdown: %d %q", status, body)
	}
	if code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// Request log lines are buffered, but SIGTERM writes out every one: each
// request answered before the signal has its line when the process exits.
func TestRequestLogKeptOnSIGTERM(t *testing.T) {
	up := testproxy.New(t)
	p := serveTestUpstream(t, up)
	const n = 300
	for i := range n {
		if resp, body := get(t, p.URL+"/example.com/greet/@v/v1.0.0.info"); resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if code := p.stop(t); code != 0 {
		t.Fatalf("exit code %d on SIGTERM", code)
	}
	if got := strings.Count(p.Logs(), "msg=request "); got != n {
		t.Errorf("%d request lines logged, want %d", got, n)
	}
	if logs := p.Logs(); strings.LastIndex(logs, "msg=request ") > strings.Index(logs, "msg=stopped") {
		t.Errorf("request lines after the stop line:\n%s", logs)
	}
}
