package integration

import (
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// An upstream that fails each request once — a 502 from a load balancer,
// a reset connection — costs the go command nothing: gatehouse tries again
// (protocol requests and checksum database lookups and tiles alike), and
// its log names the upstream without the credentials in its URL.
func TestUpstreamFailuresRetried(t *testing.T) {
	up := testproxy.New(t)
	target, _ := url.Parse(up.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	seen := map[string]int{}
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen[r.URL.Path]++
		n, failures := seen[r.URL.Path], len(seen)
		mu.Unlock()
		switch {
		case n > 1:
			rp.ServeHTTP(w, r)
		case failures%2 == 0:
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		default:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		}
	}))
	defer front.Close()
	withCreds := strings.Replace(front.URL, "http://", "http://tok-31c9:pw-8d0e@", 1)
	p := startServe(t, "", "--upstream", withCreds, "--sumdb", up.GOSUMDB())
	dir := project(t)
	env := goEnv(t, p, up)
	testutil.MustGo(t, dir, env, "mod", "download", "all")
	if out := testutil.MustGo(t, dir, env, "mod", "verify"); !strings.Contains(out, "all modules verified") {
		t.Fatalf("go mod verify: %s", out)
	}
	mu.Lock()
	var paths []string
	for path := range seen {
		paths = append(paths, path)
	}
	mu.Unlock()
	for _, want := range []string{".zip", ".mod", "/sumdb/" + testproxy.SumDBName + "/lookup/", "/sumdb/" + testproxy.SumDBName + "/tile/"} {
		if !strings.Contains(strings.Join(paths, " "), want) {
			t.Errorf("no %s request went through the failing upstream: %v", want, paths)
		}
	}
	if !p.LogsContain("upstream=" + front.URL + " ") {
		t.Errorf("the log does not name the upstream that failed:\n%s", p.Logs())
	}
	for _, secret := range []string{"tok-31c9", "pw-8d0e"} {
		if strings.Contains(p.Logs(), secret) {
			t.Errorf("the log shows %q from the upstream URL", secret)
		}
	}
}
