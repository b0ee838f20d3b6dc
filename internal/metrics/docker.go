package metrics

import (
	"net/http"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Docker holds the metrics of gatehouse docker, on a registry of its own.
// Its label values come from the guard's fixed sets (profile names of the
// configuration, endpoint groups, decisions, rule names).
type Docker struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	streams  prometheus.Gauge
}

// NewDocker returns the metrics of gatehouse docker, with the Go runtime and
// process collectors and gatehouse_build_info.
func NewDocker(version string) *Docker {
	d := &Docker{reg: prometheus.NewRegistry()}
	d.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gatehouse_docker_requests_total",
		Help: "Docker API requests, by client profile, endpoint group, decision (allow, deny, error) and reason (the refusing rule, or allowed).",
	}, []string{"profile", "group", "decision", "reason"})
	d.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "gatehouse_docker_request_duration_seconds",
		Help:    "Time from a request's arrival to the end of its answer (a stream's whole life), by endpoint group and decision.",
		Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30, 120, 600},
	}, []string{"group", "decision"})
	d.streams = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "gatehouse_docker_hijacked_streams",
		Help: "Hijacked streams (attach, exec start: 101 Switching Protocols) open now.",
	})
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "gatehouse_build_info",
		Help: "Always 1; the labels say which gatehouse runs.",
	}, []string{"version", "goversion"})
	buildInfo.WithLabelValues(version, runtime.Version()).Set(1)
	d.reg.MustRegister(d.requests, d.duration, d.streams, buildInfo,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return d
}

// Registry returns the private registry.
func (d *Docker) Registry() *prometheus.Registry { return d.reg }

// Handler serves the registry in the Prometheus exposition format.
func (d *Docker) Handler() http.Handler { return promhttp.HandlerFor(d.reg, promhttp.HandlerOpts{}) }

// Request counts one request.
func (d *Docker) Request(profile, group, decision, reason string, dur time.Duration) {
	d.requests.WithLabelValues(profile, group, decision, reason).Inc()
	d.duration.WithLabelValues(group, decision).Observe(dur.Seconds())
}

// StreamOpened and StreamClosed count hijacked streams.
func (d *Docker) StreamOpened() { d.streams.Inc() }
func (d *Docker) StreamClosed() { d.streams.Dec() }
