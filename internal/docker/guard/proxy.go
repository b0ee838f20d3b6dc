package guard

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/docker/inspect"
)

// daemonTransport connects to dockerd's unix socket. It sets no timeouts:
// streams last as long as the client wants.
func daemonTransport(socket string) *http.Transport {
	return &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		DisableCompression:  true,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     90 * time.Second,
	}
}

type stateKey struct{}

// state carries what the proxy learnt about a forwarded request back to
// ServeHTTP for the audit record.
type state struct {
	status  int // set for responses the proxy writes itself (101 upgrades)
	err     error
	streams Observer // counts open hijacked streams; may be nil
	open    bool
}

// hijacked records a 101 upgrade: a raw stream is open until done.
func (st *state) hijacked() {
	st.status = http.StatusSwitchingProtocols
	if st.streams != nil && !st.open {
		st.open = true
		st.streams.StreamOpened()
	}
}

// done is called when the proxy has finished with the request.
func (st *state) done() {
	if st.open {
		st.open = false
		st.streams.StreamClosed()
	}
}

// newProxy returns a reverse proxy to dockerd's unix socket. Responses are
// flushed at once and nothing times out, because events, logs -f, stats and
// attach stream for as long as the client wants; a 101 upgrade (attach and
// exec with Upgrade: tcp) becomes a raw two-way stream, with a half-close on
// either side passed on to the other so that a container sees EOF on stdin.
func newProxy(t http.RoundTripper, log *slog.Logger) http.Handler {
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "docker"
			pr.Out.Host = "docker"
		},
		Transport:     t,
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if st, ok := resp.Request.Context().Value(stateKey{}).(*state); ok && resp.StatusCode == http.StatusSwitchingProtocols {
				st.hijacked()
			}
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			if st, ok := r.Context().Value(stateKey{}).(*state); ok {
				st.err = err
			}
			if r.Context().Err() != nil {
				return // the client went away
			}
			var v *inspect.Violation
			if errors.As(err, &v) {
				return // a refused build context: ServeHTTP answers
			}
			log.Warn("docker daemon request failed", "method", r.Method, "path", r.URL.Path, "err", err)
			writeError(w, http.StatusBadGateway, "gatehouse: cannot reach the Docker daemon")
		},
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}
