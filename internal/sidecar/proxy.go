package sidecar

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// ProxyOptions configure the injecting reverse proxy.
type ProxyOptions struct {
	Upstream    *url.URL          // where requests go; its path is a prefix
	Source      Source            // nil: no token (client certificate only)
	BasicUser   string            // if set, send the token as this user's Basic-auth password
	Transport   http.RoundTripper // to the upstream
	AllowRemote bool              // accept requests whose Host is not a loopback name
	Logger      *slog.Logger
}

// NewProxy returns the sidecar's handler: /healthz, and every GET or HEAD
// forwarded to the upstream with the token added. Responses stream through
// unbuffered with the upstream's status, headers and body.
func NewProxy(o ProxyOptions) http.Handler {
	p := &proxy{o: o}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(o.Upstream)
			// The local client's credentials are not ours to forward, and
			// must never override the sidecar's.
			pr.Out.Header.Del("Authorization")
			pr.Out.Header.Del("Cookie")
			if tok, ok := pr.In.Context().Value(tokenKey{}).(string); ok {
				pr.Out.Header.Set("Authorization", AuthHeader(tok, o.BasicUser))
			}
		},
		Transport:     o.Transport,
		FlushInterval: -1,
		ErrorLog:      slog.NewLogLogger(o.Logger.Handler(), slog.LevelWarn),
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if r.Context().Err() != nil {
				return // the client went away
			}
			o.Logger.Warn("upstream request failed", "path", r.URL.Path, "err", err)
			fail(w, http.StatusBadGateway, "gatehouse sidecar: cannot reach the upstream "+o.Upstream.Host+": "+firstLine(unwrapURLError(err).Error()))
		},
	}
	return p
}

type tokenKey struct{}

type proxy struct {
	o  ProxyOptions
	rp *httputil.ReverseProxy
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !p.o.AllowRemote && !loopbackHost(r.Host) {
		// A web page can point a browser at a loopback port through DNS
		// rebinding; its Host is then the attacker's name, not ours.
		fail(w, http.StatusForbidden, "gatehouse sidecar: Host "+fmt.Sprintf("%q", r.Host)+" is not a loopback address (start with --allow-remote to serve other hosts)")
		return
	}
	if r.URL.Path == "/healthz" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		fail(w, http.StatusMethodNotAllowed, "gatehouse sidecar: only GET and HEAD are forwarded")
		return
	}
	if p.o.Source != nil {
		tok, err := p.o.Source.Token(r.Context())
		if err != nil {
			p.o.Logger.Error("token source failed", "source", p.o.Source.Kind(), "err", err)
			fail(w, http.StatusBadGateway, "gatehouse sidecar: token source "+p.o.Source.Kind()+" failed: "+firstLine(err.Error()))
			return
		}
		r = r.WithContext(context.WithValue(r.Context(), tokenKey{}, tok))
	}
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	p.rp.ServeHTTP(sw, r)
	p.o.Logger.Debug("forwarded", "method", r.Method, "path", r.URL.Path, "status", sw.status, "duration", time.Since(start))
}

// statusWriter remembers the status for the debug log; Unwrap lets the
// reverse proxy flush through it.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(p)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// AuthHeader is the Authorization value carrying tok: a bearer token, or
// the password of HTTP Basic auth for user when user is set.
func AuthHeader(tok, user string) string {
	if user != "" {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+tok))
	}
	return "Bearer " + tok
}

// fail writes a one-line text/plain error, the form the go command shows.
func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintln(w, strings.ReplaceAll(msg, "\n", " "))
}

// loopbackHost reports whether a Host header names this machine's loopback.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
