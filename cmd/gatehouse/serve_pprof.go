package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// pprofAttr says where profiles are served, for the start line.
func pprofAttr(ln net.Listener) slog.Attr {
	if ln == nil {
		return slog.Attr{}
	}
	return slog.String("pprof", "http://"+ln.Addr().String()+"/debug/pprof/")
}

// pprofHandler serves net/http/pprof under /debug/pprof/ and nothing else.
// Its own mux, not http.DefaultServeMux, so importing pprof adds nothing
// to any other listener.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("POST /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return mux
}

// servePprof serves profiles on ln (nil: off) in plain HTTP, apart from
// the proxy's listener. Profiles show the command line, goroutine stacks
// and heap contents: like metrics, keep it on loopback. No write timeout:
// a CPU profile or trace takes as long as its ?seconds= asks.
func servePprof(ctx context.Context, ln net.Listener, log *slog.Logger) (stop func()) {
	if ln == nil {
		return func() {}
	}
	if !auth.IsLoopbackListen(ln.Addr().String()) {
		log.Warn("the pprof listener has no authentication and shows the process's memory: keep it on loopback", "pprof_listen", ln.Addr().String())
	}
	hs, done := startSideServer(ctx, ln, pprofHandler(), "pprof", log)
	return func() {
		hs.Close() // a running profile has nothing worth waiting for
		<-done
	}
}
