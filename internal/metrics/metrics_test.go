package metrics_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

// The cache takes Metrics as its Observer.
var _ modcache.Observer = (*metrics.Metrics)(nil)

func entry(kind, source string, status int) *reqlog.Entry {
	return &reqlog.Entry{Kind: kind, Source: source, Status: status, Start: time.Now(), Path: "/x", Bytes: 10}
}

func TestRequestCounts(t *testing.T) {
	m := metrics.New("v9.9.9")
	m.ObserveRequest(entry("zip", "upstream", 200))
	m.ObserveRequest(entry("zip", "cache", 200))
	m.ObserveRequest(entry("zip", "cache", 200))
	m.ObserveRequest(entry("info", "", 404))
	m.ObserveRequest(&reqlog.Entry{Path: "/healthz", Status: 200, Start: time.Now()})
	// A health check refused by the network allowlist is audited as kind
	// invalid (not a protocol request); it is still a health check.
	m.ObserveRequest(&reqlog.Entry{Path: "/readyz", Kind: "invalid", Status: 403, Start: time.Now()})
	m.ObserveRequest(&reqlog.Entry{Path: "/sumdb/sum.golang.org/supported", Status: 200, Start: time.Now()})
	m.ObserveRequest(&reqlog.Entry{Path: "/", Status: 400, Start: time.Now()})
	m.ObserveRequest(entry("unheard-of", "somewhere", 999))
	m.ObserveRequest(entry("mod", "", 42)) // not an HTTP status
	want := `
# HELP gatehouse_requests_total Requests answered, by protocol kind, HTTP status and whether the store answered (hit), the upstream (miss) or neither (none).
# TYPE gatehouse_requests_total counter
gatehouse_requests_total{cache="hit",code="200",kind="zip"} 2
gatehouse_requests_total{cache="miss",code="200",kind="zip"} 1
gatehouse_requests_total{cache="none",code="404",kind="info"} 1
gatehouse_requests_total{cache="none",code="200",kind="health"} 1
gatehouse_requests_total{cache="none",code="403",kind="health"} 1
gatehouse_requests_total{cache="none",code="200",kind="sumdb"} 1
gatehouse_requests_total{cache="none",code="400",kind="other"} 1
gatehouse_requests_total{cache="none",code="999",kind="other"} 1
gatehouse_requests_total{cache="none",code="other",kind="mod"} 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "gatehouse_requests_total"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(m.Registry(), "gatehouse_request_duration_seconds"); n != 8 {
		t.Errorf("duration histograms: %d series, want one per kind (8)", n)
	}
	fams := scrape(t, m)
	if got := sum(fams["gatehouse_response_bytes_total"], "kind", "zip"); got != 30 {
		t.Errorf("zip bytes = %v, want 30", got)
	}
	if got := sum(fams["gatehouse_request_duration_seconds"], "kind", "zip"); got != 3 {
		t.Errorf("zip duration observations = %v, want 3", got)
	}
	bi := fams["gatehouse_build_info"]
	if bi == nil || len(bi.Metric) != 1 || bi.Metric[0].GetGauge().GetValue() != 1 || !hasLabel(bi.Metric[0], "version", "v9.9.9") {
		t.Errorf("build info: %v", bi)
	}
	for _, std := range []string{"go_goroutines", "process_start_time_seconds"} {
		if fams[std] == nil {
			t.Errorf("standard collector metric %s missing", std)
		}
	}
}

func TestDecisionClasses(t *testing.T) {
	m := metrics.New("test")
	deny := func(reason, rule string) {
		m.ObserveRequest(&reqlog.Entry{Decision: "deny", Reason: reason, Rule: rule, Status: 403, Start: time.Now()})
	}
	// The reasons internal/auth and internal/policy/enforce write.
	deny("authentication required", "")
	deny("authentication failed: unknown token", "")
	deny("network not allowed", "")
	deny("no access to module", "")
	deny("no access to module", "access#2")
	deny("data tiles are not served under access rules", "")
	deny("rate limited", "")
	deny("published too recently (3h ago)", "fresh")
	deny("checksum mismatch", "")
	m.ObserveRequest(&reqlog.Entry{Decision: "would-deny", Reason: "would hide v1.1.0 (fresh)", Rule: "fresh", Start: time.Now()})
	m.ObserveRequest(&reqlog.Entry{Decision: "allow", Start: time.Now()})
	m.ObserveRequest(&reqlog.Entry{Decision: "error", Reason: "upstream failed", Start: time.Now()})
	fams := scrape(t, m)
	want := map[[2]string]float64{
		{"deny", "authentication"}: 2, {"deny", "network"}: 1, {"deny", "access"}: 3,
		{"deny", "rate_limit"}: 1, {"deny", "policy"}: 1, {"deny", "other"}: 1,
		{"would-deny", "policy"}: 1,
	}
	var total float64
	for _, mt := range fams["gatehouse_decisions_total"].Metric {
		k := [2]string{label(mt, "decision"), label(mt, "reason_class")}
		if got := mt.GetCounter().GetValue(); got != want[k] {
			t.Errorf("decisions %v = %v, want %v", k, got, want[k])
		}
		total += mt.GetCounter().GetValue()
	}
	if total != 10 {
		t.Errorf("decisions counted %v, want the 10 refusals only", total)
	}
}

func TestFetches(t *testing.T) {
	m := metrics.New("test")
	var g sync.WaitGroup
	for range 4 {
		m.FetchStarted()
	}
	if v := scrape(t, m)["gatehouse_upstream_fetches_in_flight"].Metric[0].GetGauge().GetValue(); v != 4 {
		t.Errorf("in flight = %v, want 4", v)
	}
	for _, f := range [][2]string{{"public", "ok"}, {"public", "not_found"}, {"private", "error"}, {"corp.example.com/secret", "weird"}} {
		g.Go(func() { m.FetchDone(f[0], f[1], time.Second) })
	}
	g.Wait()
	m.VerificationFailed()
	want := `
# HELP gatehouse_upstream_fetches_in_flight Upstream fetches running now.
# TYPE gatehouse_upstream_fetches_in_flight gauge
gatehouse_upstream_fetches_in_flight 0
# HELP gatehouse_upstream_fetches_total Upstream fetches (one per artifact, list or @latest however many clients wait for it), by route and result.
# TYPE gatehouse_upstream_fetches_total counter
gatehouse_upstream_fetches_total{result="error",route="other"} 1
gatehouse_upstream_fetches_total{result="error",route="private"} 1
gatehouse_upstream_fetches_total{result="error",route="public"} 0
gatehouse_upstream_fetches_total{result="not_found",route="private"} 0
gatehouse_upstream_fetches_total{result="not_found",route="public"} 1
gatehouse_upstream_fetches_total{result="ok",route="private"} 0
gatehouse_upstream_fetches_total{result="ok",route="public"} 1
# HELP gatehouse_verification_failures_total Downloads refused because their checksum did not match the one vouched for (tampered content, a moved tag) or the checksum database was inconsistent. Any increase deserves a look.
# TYPE gatehouse_verification_failures_total counter
gatehouse_verification_failures_total 1
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
		"gatehouse_upstream_fetches_in_flight", "gatehouse_upstream_fetches_total", "gatehouse_verification_failures_total"); err != nil {
		t.Error(err)
	}
	if got := sum(scrape(t, m)["gatehouse_upstream_fetch_duration_seconds"], "route", "public"); got != 2 {
		t.Errorf("public fetch durations observed %v times, want 2", got)
	}
}

// Whatever a request carries, no module path, version, identity, group,
// client address, request id or reason text reaches the scrape, and the
// number of series stays bounded.
func TestNoPrivateDataInLabels(t *testing.T) {
	m := metrics.New("test")
	secrets := []string{"corp.example.com/secret", "v1.2.3-secret", "alice@example.com", "admins-group",
		"203.0.113.77", "req-id-secret", "reason-secret", "rule-secret", "/corp.example.com/secret/@v/list", "h1:secret"}
	for i := range 2000 {
		m.ObserveRequest(&reqlog.Entry{
			ID: secrets[5], Start: time.Now(), Client: secrets[4], Method: "GET", Path: secrets[8],
			Identity: secrets[2], AuthMethod: "token", Groups: []string{secrets[3]},
			Module: secrets[0], Version: secrets[1], Kind: []string{"zip", secrets[0], "list"}[i%3],
			Decision: []string{"deny", "allow", "would-deny", secrets[6]}[i%4], Reason: secrets[6], Rule: secrets[7],
			Source: []string{"cache", "upstream", secrets[0]}[i%3], H1: secrets[9],
			Status: 100 + i%900, Bytes: int64(i),
		})
		m.FetchDone(secrets[0], secrets[6], time.Millisecond)
	}
	body := scrapeText(t, m)
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("scrape contains %q", s)
		}
	}
	// 3 kinds x 3 cache values x 900 statuses at most: a status is a number
	// below 1000 (the server only writes real ones), never free text.
	if n := testutil.CollectAndCount(m.Registry(), "gatehouse_requests_total"); n > 900*2 {
		t.Errorf("gatehouse_requests_total has %d series", n)
	}
	if n := testutil.CollectAndCount(m.Registry(), "gatehouse_decisions_total"); n != 12 {
		t.Errorf("gatehouse_decisions_total has %d series, want the fixed 2x6", n)
	}
}

// ObserveRequest is on every request's path: it must not allocate once the
// series exist.
func TestObserveRequestAllocs(t *testing.T) {
	m := metrics.New("test")
	e := entry("zip", "cache", 200)
	m.ObserveRequest(e)
	if n := testing.AllocsPerRun(1000, func() { m.ObserveRequest(e) }); n != 0 {
		t.Errorf("ObserveRequest allocates %v times per request", n)
	}
}

func BenchmarkObserveRequest(b *testing.B) {
	m := metrics.New("test")
	e := entry("zip", "cache", 200)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			m.ObserveRequest(e)
		}
	})
}

// scrape fetches the handler's page and parses it as Prometheus would.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(scrapeText(t, m)))
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

func scrapeText(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("scrape: %d %s", resp.StatusCode, b)
	}
	return string(b)
}

// sum adds up the values (a histogram's: its count) of the series of fam
// whose label name has value.
func sum(fam *dto.MetricFamily, name, value string) float64 {
	var n float64
	if fam == nil {
		return 0
	}
	for _, mt := range fam.Metric {
		if !hasLabel(mt, name, value) {
			continue
		}
		switch {
		case mt.Counter != nil:
			n += mt.Counter.GetValue()
		case mt.Gauge != nil:
			n += mt.Gauge.GetValue()
		case mt.Histogram != nil:
			n += float64(mt.Histogram.GetSampleCount())
		}
	}
	return n
}

func label(mt *dto.Metric, name string) string {
	for _, l := range mt.Label {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func hasLabel(mt *dto.Metric, name, value string) bool { return label(mt, name) == value }
