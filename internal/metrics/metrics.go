// Package metrics keeps gatehouse's Prometheus metrics: requests, upstream
// fetches, refused tampered downloads and access decisions. It owns a
// private registry (never the global one) and serves it with promhttp.
//
// Labels take values from small fixed sets only: a module path, version,
// identity, token or client address never becomes a label value, for the
// privacy of who fetched what and to keep the number of series bounded.
package metrics

import (
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

// Label values. Anything else is mapped to "other".
var (
	kinds        = [...]string{"list", "info", "mod", "zip", "latest", "sumdb", "health", "other"}
	caches       = []string{"hit", "miss", "none"}
	decisions    = [...]string{"deny", "would-deny"}
	reasonClass  = [...]string{"authentication", "network", "access", "rate_limit", "policy", "other"}
	routes       = []string{"public", "private", "other"}
	fetchResults = []string{"ok", "not_found", "error"}
)

// Fetch results, as FetchDone takes them.
const (
	FetchOK       = "ok"
	FetchNotFound = "not_found"
	FetchError    = "error"
)

// Metrics holds gatehouse's collectors.
type Metrics struct {
	reg *prometheus.Registry

	requests  *prometheus.CounterVec
	durations [len(kinds)]prometheus.Observer // by kind index
	bytes     [len(kinds)]prometheus.Counter
	// byRequest caches the requests counter of each (kind, cache, status),
	// so a request costs one map read, not WithLabelValues's hashing of
	// three strings. Copy on write: the set is small and soon complete.
	byRequest atomic.Pointer[map[uint32]prometheus.Counter]
	mu        sync.Mutex

	decisions [len(decisions)][len(reasonClass)]prometheus.Counter

	fetches        *prometheus.CounterVec
	fetchDurations *prometheus.HistogramVec
	inFlight       prometheus.Gauge
	verifyFailures prometheus.Counter
}

// New returns Metrics on a fresh registry, with the Go runtime and process
// collectors and gatehouse_build_info{version, goversion}.
func New(version string) *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{reg: reg}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_requests_total",
		Help: "Requests answered, by protocol kind, HTTP status and whether the store answered (hit), the upstream (miss) or neither (none).",
	}, []string{"kind", "code", "cache"})
	durations := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatehouse_request_duration_seconds",
		Help:    "Time to answer a request, by protocol kind.",
		Buckets: prometheus.DefBuckets,
	}, []string{"kind"})
	bytes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_response_bytes_total",
		Help: "Response body bytes sent, by protocol kind.",
	}, []string{"kind"})
	decided := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_decisions_total",
		Help: "Requests refused (deny) or that a dry-run policy would refuse (would-deny), by class of reason.",
	}, []string{"decision", "reason_class"})
	m.fetches = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_upstream_fetches_total",
		Help: "Upstream fetches (one per artifact, list or @latest however many clients wait for it), by route and result.",
	}, []string{"route", "result"})
	m.fetchDurations = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatehouse_upstream_fetch_duration_seconds",
		Help:    "Time of one upstream fetch, verification and storing included, by route.",
		Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"route"})
	m.inFlight = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_upstream_fetches_in_flight",
		Help: "Upstream fetches running now.",
	})
	m.verifyFailures = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gatehouse_verification_failures_total",
		Help: "Downloads refused because their checksum did not match the one vouched for (tampered content, a moved tag) or the checksum database was inconsistent. Any increase deserves a look.",
	})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatehouse_build_info",
		Help: "Always 1; the labels say which gatehouse runs.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)

	reg.MustRegister(m.requests, durations, bytes, decided, m.fetches, m.fetchDurations,
		m.inFlight, m.verifyFailures, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	for i, k := range kinds {
		m.durations[i] = durations.WithLabelValues(k)
		m.bytes[i] = bytes.WithLabelValues(k)
	}
	for i, d := range decisions {
		for j, c := range reasonClass {
			m.decisions[i][j] = decided.WithLabelValues(d, c)
		}
	}
	for _, r := range routes[:2] {
		for _, res := range fetchResults {
			m.fetches.WithLabelValues(r, res) // present at 0 from the start, so rate() and alerts see them
		}
	}
	m.verifyFailures.Add(0)
	empty := map[uint32]prometheus.Counter{}
	m.byRequest.Store(&empty)
	return m
}

// Registry returns the private registry (for tests and further collectors).
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// ObserveRequest counts one answered request from the facts the server
// collected about it (its status and bytes filled in).
func (m *Metrics) ObserveRequest(e *reqlog.Entry) {
	k := kindIndex(e)
	c := cacheIndex(e.Source)
	m.requestCounter(k, c, e.Status).Inc()
	m.durations[k].Observe(time.Since(e.Start).Seconds())
	m.bytes[k].Add(float64(e.Bytes))
	switch e.Decision {
	case "deny":
		m.decisions[0][classIndex(e)].Inc()
	case "would-deny":
		m.decisions[1][classIndex(e)].Inc()
	}
}

func (m *Metrics) requestCounter(kind, cache, status int) prometheus.Counter {
	if status < 100 || status > 999 {
		status = 0
	}
	key := uint32(kind)<<16 | uint32(cache)<<12 | uint32(status)
	if c, ok := (*m.byRequest.Load())[key]; ok {
		return c
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.byRequest.Load()
	if c, ok := old[key]; ok {
		return c
	}
	code := "other"
	if status != 0 {
		code = strconv.Itoa(status)
	}
	c := m.requests.WithLabelValues(kinds[kind], code, caches[cache])
	next := make(map[uint32]prometheus.Counter, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[key] = c
	m.byRequest.Store(&next)
	return c
}

func kindIndex(e *reqlog.Entry) int {
	switch e.Kind {
	case "list":
		return 0
	case "info":
		return 1
	case "mod":
		return 2
	case "zip":
		return 3
	case "latest":
		return 4
	case "sumdb":
		return 5
	case "", "invalid":
		// Set by the protocol parser ("invalid": not a protocol path);
		// requests refused or answered before it are told apart by their path.
		switch {
		case e.Path == "/healthz" || e.Path == "/readyz":
			return 6
		case strings.HasPrefix(e.Path, "/sumdb/"):
			return 5
		}
	}
	return 7
}

func cacheIndex(source string) int {
	switch source {
	case "cache":
		return 0
	case "upstream":
		return 1
	}
	return 2
}

// classIndex sorts a refusal into a reason class by the layer that made
// it, from the words each layer writes into the entry (internal/auth,
// internal/policy/enforce); anything new is "other" until it is named here.
func classIndex(e *reqlog.Entry) int {
	switch {
	case strings.HasPrefix(e.Reason, "authentication"):
		return 0
	case e.Reason == "network not allowed":
		return 1
	case e.Reason == "no access to module" || strings.HasPrefix(e.Rule, "access#") ||
		strings.HasPrefix(e.Reason, "data tiles are not served"):
		return 2
	case e.Reason == "rate limited":
		return 3
	case e.Rule != "":
		return 4 // a policy rule decided
	}
	return 5
}

// FetchStarted counts a fetch from an upstream as in flight.
func (m *Metrics) FetchStarted() { m.inFlight.Inc() }

// FetchDone records a finished upstream fetch of route ("public",
// "private") with result FetchOK, FetchNotFound or FetchError.
func (m *Metrics) FetchDone(route, result string, d time.Duration) {
	m.inFlight.Dec()
	switch route {
	case "public", "private":
	default:
		route = "other"
	}
	switch result {
	case FetchOK, FetchNotFound:
	default:
		result = FetchError
	}
	m.fetches.WithLabelValues(route, result).Inc()
	m.fetchDurations.WithLabelValues(route).Observe(d.Seconds())
}

// VerificationFailed counts a download refused because its checksum did
// not verify.
func (m *Metrics) VerificationFailed() { m.verifyFailures.Inc() }
