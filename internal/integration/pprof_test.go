package integration

import (
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
)

var pprofRE = regexp.MustCompile(`gatehouse serving.* pprof=(\S+)`)

// --pprof-listen serves net/http/pprof on its own loopback listener; the
// proxy's listener never does, and without the flag there is none.
func TestPprofListen(t *testing.T) {
	up := testproxy.New(t)
	p := serveTestUpstream(t, up, "--pprof-listen", "127.0.0.1:0")
	m := pprofRE.FindStringSubmatch(p.Logs())
	if m == nil {
		t.Fatalf("start line does not say where pprof is served:\n%s", p.Logs())
	}
	base := m[1]
	if !strings.HasPrefix(base, "http://127.0.0.1:") || strings.HasPrefix(base, p.URL+"/") {
		t.Fatalf("pprof URL %q: want its own loopback port, apart from %s", base, p.URL)
	}
	if resp, body := get(t, base+"goroutine?debug=1"); resp.StatusCode != 200 || !strings.Contains(body, "goroutine profile:") {
		t.Fatalf("goroutine profile: %d\n%.300s", resp.StatusCode, body)
	}
	if resp, body := get(t, base+"cmdline"); resp.StatusCode != 200 || !strings.Contains(body, "--pprof-listen") {
		t.Fatalf("cmdline: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, p.URL+"/debug/pprof/"); resp.StatusCode == 200 {
		t.Fatalf("the proxy listener serves pprof")
	}
	if strings.Contains(p.Logs(), "pprof listener has no authentication") {
		t.Errorf("loopback pprof listener warned:\n%s", p.Logs())
	}

	off := serveTestUpstream(t, up)
	if strings.Contains(off.Logs(), "pprof=") {
		t.Errorf("pprof is on by default:\n%s", off.Logs())
	}
}
