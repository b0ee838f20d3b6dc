package server_test

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The server's hook and the cache's observer count what happens: a miss
// fetches once, a hit fetches nothing, a tampered zip is refused and
// counted as a verification failure, a refusal counts as a decision.
func TestMetricsCountRequests(t *testing.T) {
	e := newTestEnv(t, denyV110{})
	zip := e.srv.URL + "/example.com/hello/@v/v1.0.0.zip"
	for i, want := range []int{200, 200} {
		if resp, body := do(t, "GET", zip); resp.StatusCode != want {
			t.Fatalf("request %d: %d %s", i, resp.StatusCode, body)
		}
	}
	if resp, _ := do(t, "GET", e.srv.URL+"/example.com/nonesuch/@v/v1.0.0.info"); resp.StatusCode != 404 {
		t.Fatalf("missing module: %d", resp.StatusCode)
	}
	if resp, _ := do(t, "GET", e.srv.URL+"/example.com/greet/@v/v1.1.0.zip"); resp.StatusCode != 403 {
		t.Fatalf("denied version: %d", resp.StatusCode)
	}
	e.up.Tamper("example.com/hello/v2", "v2.0.0", "mod", []byte("module example.com/hello/v2\n\nrequire example.com/evil v1.0.0\n"))
	if resp, body := do(t, "GET", e.srv.URL+"/example.com/hello/v2/@v/v2.0.0.mod"); resp.StatusCode != 502 || !strings.Contains(body, "SECURITY ERROR") {
		t.Fatalf("tampered go.mod: %d %s", resp.StatusCode, body)
	}
	do(t, "GET", e.srv.URL+"/healthz")

	want := `
# HELP gatehouse_requests_total Requests answered, by protocol kind, HTTP status and whether the store answered (hit), the upstream (miss) or neither (none).
# TYPE gatehouse_requests_total counter
gatehouse_requests_total{cache="hit",code="200",kind="zip"} 1
gatehouse_requests_total{cache="miss",code="200",kind="zip"} 1
gatehouse_requests_total{cache="none",code="404",kind="info"} 1
gatehouse_requests_total{cache="none",code="403",kind="zip"} 1
gatehouse_requests_total{cache="none",code="502",kind="mod"} 1
gatehouse_requests_total{cache="none",code="200",kind="health"} 1
# HELP gatehouse_upstream_fetches_total Upstream fetches (one per artifact, list or @latest however many clients wait for it), by route and result.
# TYPE gatehouse_upstream_fetches_total counter
gatehouse_upstream_fetches_total{result="error",route="private"} 0
gatehouse_upstream_fetches_total{result="error",route="public"} 1
gatehouse_upstream_fetches_total{result="not_found",route="private"} 0
gatehouse_upstream_fetches_total{result="not_found",route="public"} 1
gatehouse_upstream_fetches_total{result="ok",route="private"} 0
gatehouse_upstream_fetches_total{result="ok",route="public"} 1
# HELP gatehouse_verification_failures_total Downloads refused because their checksum did not match the one vouched for (tampered content, a moved tag) or the checksum database was inconsistent. Any increase deserves a look.
# TYPE gatehouse_verification_failures_total counter
gatehouse_verification_failures_total 1
# HELP gatehouse_upstream_fetches_in_flight Upstream fetches running now.
# TYPE gatehouse_upstream_fetches_in_flight gauge
gatehouse_upstream_fetches_in_flight 0
`
	if err := testutil.GatherAndCompare(e.metrics.Registry(), strings.NewReader(want),
		"gatehouse_requests_total", "gatehouse_upstream_fetches_total",
		"gatehouse_verification_failures_total", "gatehouse_upstream_fetches_in_flight"); err != nil {
		t.Error(err)
	}
	// denyV110 names no layer the metrics know (a test gate): "other".
	if n := testutil.CollectAndCount(e.metrics.Registry(), "gatehouse_decisions_total"); n != 12 {
		t.Errorf("decisions: %d series, want 12", n)
	}
}
