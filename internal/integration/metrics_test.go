package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

var metricsRE = regexp.MustCompile(`gatehouse serving.* metrics=(\S+)`)

// The real go command downloads modules through gatehouse twice (misses,
// then hits from a second, empty module cache) and once a tampered one;
// Prometheus's parser reads the counts back from --metrics-listen, and no
// module path leaks into the page.
func TestMetricsEndpoint(t *testing.T) {
	up := testproxy.New(t)
	up.Tamper("example.com/hello/v2", "v2.0.0", "zip", tamperedZip(t, up, "example.com/hello/v2", "v2.0.0"))
	// Prefetch off: the counts below are those of the clients' own
	// requests (with it, zips become hits or join prefetches by timing).
	p := serveTestUpstream(t, up, "--metrics-listen", "127.0.0.1:0", "--prefetch-workers", "0")
	m := metricsRE.FindStringSubmatch(p.Logs())
	if m == nil {
		t.Fatalf("start line does not say where metrics are served:\n%s", p.Logs())
	}
	metricsURL := m[1]
	if !strings.HasPrefix(metricsURL, "http://127.0.0.1:") || !strings.HasSuffix(metricsURL, "/metrics") || strings.HasPrefix(metricsURL, p.URL+"/") {
		t.Fatalf("metrics URL %q: want its own loopback port, apart from %s", metricsURL, p.URL)
	}

	mods := []string{"example.com/hello@v1.0.0", "example.com/Caps@v1.0.0"}
	for range 2 { // a fresh module cache each time: misses, then hits
		testutil.MustGo(t, t.TempDir(), goEnv(t, p, up), append([]string{"mod", "download"}, mods...)...)
	}
	if out, err := testutil.Go(t, t.TempDir(), goEnv(t, p, up), "mod", "download", "example.com/hello/v2@v2.0.0"); err == nil || !strings.Contains(out, "SECURITY ERROR") {
		t.Fatalf("tampered module: err %v\n%s", err, out)
	}

	resp, page := get(t, metricsURL)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("scrape: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatalf("scrape does not parse: %v\n%s", err, page)
	}
	count := func(name string, labels ...string) float64 {
		fam := fams[name]
		if fam == nil {
			t.Errorf("scrape lacks %s", name)
			return -1
		}
		var n float64
	series:
		for _, mt := range fam.Metric {
			for i := 0; i+1 < len(labels); i += 2 {
				if labelValue(mt, labels[i]) != labels[i+1] {
					continue series
				}
			}
			n += mt.GetCounter().GetValue() + mt.GetGauge().GetValue()
		}
		return n
	}
	// The tampered version's .info and .mod are fine: misses too.
	for kind, misses := range map[string]float64{"info": 3, "mod": 3, "zip": 2} {
		if n := count("gatehouse_requests_total", "kind", kind, "code", "200", "cache", "miss"); n != misses {
			t.Errorf("%s misses = %v, want %v (one per module version)", kind, n, misses)
		}
		if n := count("gatehouse_requests_total", "kind", kind, "code", "200", "cache", "hit"); n != 2 {
			t.Errorf("%s hits = %v, want 2 (the second client)", kind, n)
		}
	}
	if n := count("gatehouse_requests_total", "kind", "zip", "code", "502"); n != 1 {
		t.Errorf("refused tampered zips = %v, want 1", n)
	}
	if n := count("gatehouse_requests_total", "kind", "sumdb"); n < 1 {
		t.Errorf("checksum database requests = %v, want some (the go command verifies through gatehouse)", n)
	}
	if n := count("gatehouse_verification_failures_total"); n != 1 {
		t.Errorf("gatehouse_verification_failures_total = %v, want 1", n)
	}
	// Per artifact, one fetch however many clients: 2 modules x (info, mod,
	// zip), the tampered version's info, mod and zip (refused, an error).
	if n := count("gatehouse_upstream_fetches_total", "route", "public", "result", "error"); n != 1 {
		t.Errorf("failed upstream fetches = %v, want 1 (the tampered zip)", n)
	}
	if n := count("gatehouse_upstream_fetches_total", "route", "public", "result", "ok"); n != 8 {
		t.Errorf("upstream fetches = %v, want 8", n)
	}
	if n := count("gatehouse_upstream_fetches_in_flight"); n != 0 {
		t.Errorf("fetches in flight after all answered = %v", n)
	}
	if n := count("gatehouse_build_info"); n != 1 || fams["go_goroutines"] == nil || fams["process_cpu_seconds_total"] == nil {
		t.Errorf("build info %v, or the Go and process collectors are missing", n)
	}
	// Nothing of what was fetched, nor by whom, is in the page.
	for _, secret := range []string{"example.com", "hello", "caps", "127.0.0.1", "v1.0.0", "v2.0.0"} {
		if strings.Contains(strings.ToLower(page), secret) {
			t.Errorf("scrape contains %q", secret)
		}
	}

	// The metrics listener serves /metrics alone, and the main listener
	// answers /metrics like any other path that is not a module.
	if r, _ := get(t, strings.TrimSuffix(metricsURL, "/metrics")+"/example.com/hello/@v/list"); r.StatusCode != http.StatusNotFound {
		t.Errorf("metrics listener served a module path: %d", r.StatusCode)
	}
	r1, body1 := get(t, p.URL+"/metrics")
	r2, body2 := get(t, p.URL+"/nosuchthing")
	if r1.StatusCode == 200 || strings.Contains(body1, "gatehouse_") || r1.StatusCode != r2.StatusCode ||
		strings.ReplaceAll(body1, "metrics", "x") != strings.ReplaceAll(body2, "nosuchthing", "x") {
		t.Errorf("main listener /metrics: %d %q; an unknown path: %d %q", r1.StatusCode, body1, r2.StatusCode, body2)
	}

	// Both listeners stop with the process.
	if code := p.stop(t); code != 0 {
		t.Errorf("exit %d on SIGTERM", code)
	}
	if _, err := http.Get(metricsURL); err == nil {
		t.Errorf("metrics still served after gatehouse stopped")
	}
}

func labelValue(mt *dto.Metric, name string) string {
	for _, l := range mt.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// Refusals by the real layers land in their reason class, so the words the
// metrics read from the request facts cannot drift from those the layers
// write: network allowlist, authentication, access rules, policy, rate
// limit.
func TestMetricsCountRefusals(t *testing.T) {
	dir := t.TempDir()
	policy := filepath.Join(dir, "policy.toml")
	testutil.WriteFiles(t, dir, map[string]string{
		"policy.toml": "[[rule]]\nname = \"incident\"\naction = \"deny\"\nreason = \"withdrawn\"\nmodule_versions = [\"example.com/hello@v1.0.0\"]\n",
	})
	tok, hash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "gatehouse.toml")
	testutil.WriteFiles(t, dir, map[string]string{"gatehouse.toml": fmt.Sprintf(`policy = %q
[[token]]
name = "alice"
hash = %q
groups = ["frontend"]

[[access]]
modules = ["example.com/greet/**"]
groups = ["build"]

[[access]]
modules = ["**"]
groups = ["*"]
`, policy, hash)})
	up := testproxy.New(t)
	p := serveTestUpstream(t, up, "--config", cfg, "--metrics-listen", "127.0.0.1:0",
		"--allowed-networks", "198.51.100.0/24", "--trusted-proxies", "127.0.0.1", "--rate-limit", "1", "--rate-burst", "2")
	m := metricsRE.FindStringSubmatch(p.Logs())
	if m == nil {
		t.Fatalf("no metrics address in the start line:\n%s", p.Logs())
	}
	inside, bearer := []string{"X-Forwarded-For", "198.51.100.7"}, []string{"Authorization", "Bearer " + tok}
	for _, c := range []struct {
		path   string
		header []string
		status int
	}{
		{"/example.com/hello/@v/list", []string{"X-Forwarded-For", "203.0.113.9"}, 403}, // network
		{"/example.com/hello/@v/list", inside, 401},                                     // authentication
		{"/example.com/greet/@v/list", append(inside, bearer...), 404},                  // access (hidden as not found)
		{"/example.com/hello/@v/v1.0.0.info", append(inside, bearer...), 403},           // policy
	} {
		if resp, body := get(t, p.URL+c.path, c.header...); resp.StatusCode != c.status {
			t.Fatalf("%s %v: %d %s, want %d", c.path, c.header, resp.StatusCode, body, c.status)
		}
	}
	limited := false
	for range 5 { // the bucket holds 2 and refills 1 a second
		if resp, _ := get(t, p.URL+"/example.com/hello/@v/list", append(inside, bearer...)...); resp.StatusCode == 429 {
			limited = true
			break
		}
	}
	if !limited {
		t.Fatal("no request was rate limited")
	}

	_, page := get(t, m[1])
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mt := range fams["gatehouse_decisions_total"].GetMetric() {
		if v := mt.GetCounter().GetValue(); v > 0 {
			got[labelValue(mt, "decision")+"/"+labelValue(mt, "reason_class")] = v
		}
	}
	want := map[string]float64{"deny/network": 1, "deny/authentication": 1, "deny/access": 1, "deny/policy": 1, "deny/rate_limit": 1}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("decisions = %v, want %v", got, want)
	}
	for _, secret := range []string{"example.com", "alice", "frontend", "198.51.100", "203.0.113", "incident", tok[:12]} {
		if strings.Contains(page, secret) {
			t.Errorf("scrape contains %q", secret)
		}
	}
}
