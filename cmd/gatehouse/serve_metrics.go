package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

// newMetrics returns serve's metrics, or nil when metrics_listen is off
// (then nothing is counted at all).
func newMetrics(cfg *config.Serve) *metrics.Metrics {
	if cfg.MetricsListen == "" {
		return nil
	}
	return metrics.New(buildVersion())
}

// cacheObserver and requestObserver hand the metrics to the cache and the
// server as their hooks; nil metrics give nil hooks (not a typed nil).
func cacheObserver(m *metrics.Metrics) modcache.Observer {
	if m == nil {
		return nil
	}
	return m
}

func requestObserver(m *metrics.Metrics) func(*reqlog.Entry) {
	if m == nil {
		return nil
	}
	return m.ObserveRequest
}

// listenMetrics opens the metrics listener, if one is configured.
func listenMetrics(cfg *config.Serve) (net.Listener, error) {
	return listenMetricsAt(string(cfg.MetricsListen))
}

func listenMetricsAt(addr string) (net.Listener, error) {
	if addr == "" {
		return nil, nil
	}
	return net.Listen("tcp", addr)
}

// metricsAttr says where metrics are served, for the start line; an empty
// Attr (no metrics) is left out by slog.
func metricsAttr(ln net.Listener) slog.Attr {
	if ln == nil {
		return slog.Attr{}
	}
	return slog.String("metrics", "http://"+ln.Addr().String()+"/metrics")
}

// serveMetrics serves /metrics alone on ln, in plain HTTP and apart from
// the authenticated listener, so scrapers need no credentials and the
// proxy's clients never see it. The returned stop shuts it down; serve
// calls it after the main server has drained, so scrapes go on meanwhile.
func serveMetrics(ctx context.Context, ln net.Listener, m *metrics.Metrics, log *slog.Logger) (stop func()) {
	if ln == nil {
		return func() {}
	}
	return serveMetricsHandler(ctx, ln, m.Handler(), log)
}

// serveMetricsHandler serves h as /metrics on ln; gatehouse docker uses it
// for its own metrics.
func serveMetricsHandler(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) (stop func()) {
	if !auth.IsLoopbackListen(ln.Addr().String()) {
		log.Warn("the metrics listener has no authentication: keep it on loopback or a monitoring network", "metrics_listen", ln.Addr().String())
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", h)
	hs, done := startSideServer(ctx, ln, mux, "metrics", log)
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := hs.Shutdown(sctx); err != nil {
			hs.Close()
		}
		<-done
	}
}

// startSideServer serves h in plain HTTP on ln, a listener of its own
// beside the proxy's (metrics, pprof); done is closed when it has stopped.
func startSideServer(ctx context.Context, ln net.Listener, h http.Handler, what string, log *slog.Logger) (hs *http.Server, done <-chan struct{}) {
	hs = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		if err := hs.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			log.Error(what+" server stopped", "err", err)
		}
	}()
	return hs, stopped
}
