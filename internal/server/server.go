// Package server assembles gatehouse's HTTP service: the middleware chain
// (request id, panic recovery, access log), the protocol and checksum
// database routes, health endpoints, and graceful shutdown.
package server

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"path"
	"regexp"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

// Options configures a Server.
type Options struct {
	Cache  *modcache.Cache
	SumDB  http.Handler // serves /sumdb/...; nil: 404
	Logger *slog.Logger
	// RequestLog gets the one access log line per request; nil: Logger.
	// It may be buffered (logbuf): those lines can wait, the audit log
	// (OnDone) is the record.
	RequestLog *slog.Logger

	// Gates decide, in order, whether a parsed protocol request may go on,
	// and which versions a caller may see.
	Gates []Gate
	// Middleware wraps the routes, inside request id, recovery and
	// logging, in order (the first is outermost): authentication and the
	// like. They may record facts in reqlog.From(r.Context()).
	Middleware []func(http.Handler) http.Handler
	// OnDone is called once per request after it is answered, with the
	// complete record (for the audit log).
	OnDone func(*reqlog.Entry)
	// Observe is called once for every request (health checks and
	// refusals included) after it is answered, with Status and Bytes
	// filled in (for metrics). It must be cheap and must not keep e.
	Observe func(e *reqlog.Entry)
	// UpstreamProbe checks that the upstream answers, for /readyz, when no
	// upstream request succeeded recently.
	UpstreamProbe func(context.Context) error
	// WriteTimeout is how long one write to a client (a chunk of at most
	// writeChunk bytes) may take before the connection is closed, so that
	// a client that stops reading does not hold its connection and
	// handler forever. A whole large zip may take longer; each chunk may
	// not. 0: no limit.
	WriteTimeout time.Duration
}

// writeChunk is the most one write deadline covers: at the default
// WriteTimeout of a minute, a client must read 1 MiB a minute.
const writeChunk = 1 << 20

// Server is gatehouse's HTTP service.
type Server struct {
	opts    Options
	log     *slog.Logger
	reqLog  *slog.Logger
	handler http.Handler

	probeMu  sync.Mutex
	probeAt  time.Time
	probeErr error

	// readyz's storage check writes to disk: its answer is kept for
	// readyTTL, so that unauthenticated probes cannot turn into writes.
	readyTTL time.Duration
	readyMu  sync.Mutex
	readyAt  time.Time
	readyErr error
}

// New returns a Server.
func New(opts Options) *Server {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.RequestLog == nil {
		opts.RequestLog = opts.Logger
	}
	s := &Server{opts: opts, log: opts.Logger, reqLog: opts.RequestLog, readyTTL: 2 * time.Second}
	// Routes by hand, not with a ServeMux: a mux answers unclean paths
	// (//, /./, /../) and /sumdb with redirects to other paths, and a
	// redirect to another module's path is no answer for a module proxy.
	var sumdbs http.Handler = http.HandlerFunc(notFound)
	if opts.SumDB != nil {
		sumdbs = s.gatedLookups(opts.SumDB)
	}
	var h http.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch p := r.URL.Path; {
		case p == "/healthz":
			s.healthz(w, r)
		case p == "/readyz":
			s.readyz(w, r)
		case !isClean(p):
			e := reqlog.From(r.Context())
			e.Kind, e.Decision, e.Reason = "invalid", "error", "non-canonical path (//, /./, /../ or a trailing /)"
			writeError(w, http.StatusBadRequest, "invalid request path "+strconv.Quote(p)+": not in canonical form (//, /./, /../ or a trailing /)")
		case strings.HasPrefix(p, "/sumdb/"):
			sumdbs.ServeHTTP(w, r)
		default:
			s.serveProtocol(w, r)
		}
	})
	for i := len(opts.Middleware) - 1; i >= 0; i-- {
		h = opts.Middleware[i](h)
	}
	s.handler = s.logged(s.recovered(onlyGetHead(h)))
	return s
}

// isClean reports whether p is a path in canonical form: absolute, no
// empty, "." or ".." elements, no trailing slash.
func isClean(p string) bool {
	return p == "/" || (path.Clean(p) == p && strings.HasPrefix(p, "/"))
}

func notFound(w http.ResponseWriter, r *http.Request) {
	e := reqlog.From(r.Context())
	e.Decision, e.Reason = "error", "no checksum database is served here"
	writeError(w, http.StatusNotFound, "not found")
}

// Handler returns the whole HTTP handler.
func (s *Server) Handler() http.Handler { return s.handler }

// Serve serves on ln until ctx is done, then shuts down gracefully: it
// stops accepting, lets in-flight requests finish for up to grace, and
// returns. tlsConfig may be nil for plain HTTP.
func (s *Server) Serve(ctx context.Context, ln net.Listener, tlsConfig *tls.Config, grace time.Duration) error {
	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- hs.ServeTLS(ln, "", "")
		} else {
			errc <- hs.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing in-flight requests", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := hs.Shutdown(sctx)
	if s.opts.Cache != nil {
		s.opts.Cache.Close() // writes what waits in the background
	}
	if err != nil {
		hs.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// maxRawURI caps the request target kept for the audit log; a request
// line may be as long as the header limit.
const maxRawURI = 2048

func capURI(u string) string {
	if len(u) > maxRawURI {
		return u[:maxRawURI] + "…"
	}
	return u
}

// newRequestID returns 16 random hex digits. The id names a request in
// logs and error messages; it is no secret, so the runtime's fast random
// source serves (crypto/rand cost a system call per request).
func newRequestID() string {
	var b [16]byte
	hex.Encode(b[:], binary.BigEndian.AppendUint64(make([]byte, 0, 8), mrand.Uint64()))
	return string(b[:])
}

// logged assigns the request id, records the request's facts, writes one
// access log line, and calls OnDone.
func (s *Server) logged(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := newRequestID()
		// The request's record and its response recorder live as long
		// as the request: one allocation for both.
		st := &requestState{}
		e, rw := &st.entry, &st.rec
		*e = reqlog.Entry{ID: id, Start: time.Now(), Client: r.RemoteAddr, Method: r.Method, Path: r.URL.Path, RawURI: capURI(r.RequestURI)}
		if cid := r.Header.Get("X-Request-Id"); requestIDRE.MatchString(cid) {
			e.ClientRequestID = cid
		}
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			e.Client = host
		}
		st.idHeader[0] = id
		w.Header()["X-Request-Id"] = st.idHeader[:]
		*rw = recorder{ResponseWriter: w, status: http.StatusOK, stall: s.opts.WriteTimeout, rc: *http.NewResponseController(w)}
		next.ServeHTTP(rw, r.WithContext(reqlog.With(r.Context(), e)))
		rw.extend() // for what net/http writes after the handler: headers of bodiless answers, the buffer's tail
		if !rw.wroteHeader && r.Context().Err() != nil {
			// The client hung up before anything was written: it got no
			// answer, not the 200 net/http would now send to no one.
			rw.status = StatusClientGone
			if e.Decision == "" || e.Decision == "allow" {
				e.Decision = "error"
			}
			if e.Reason == "" {
				e.Reason = "the client went away before the answer"
			}
		}
		e.Status, e.Bytes = rw.status, rw.bytes
		if e.Kind == "" && r.URL.Path != "/healthz" && r.URL.Path != "/readyz" {
			// Answered before any layer said what it was (a refused
			// method, say): audited all the same, with the path as sent.
			e.Kind = "invalid"
			if e.Decision == "" {
				e.Decision, e.Reason = "error", http.StatusText(rw.status)
			}
		}
		if s.reqLog.Enabled(r.Context(), slog.LevelInfo) {
			attrs := make([]slog.Attr, 0, 12)
			attrs = append(attrs,
				slog.String("id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
				slog.Int("status", rw.status), slog.Int64("bytes", rw.bytes),
				slog.Duration("duration", time.Since(e.Start).Round(time.Microsecond)), slog.String("client", e.Client))
			if e.Source != "" {
				attrs = append(attrs, slog.String("cache", cacheWord(e.Source)))
			}
			if e.Identity != "" {
				attrs = append(attrs, slog.String("identity", e.Identity))
			}
			if e.ClientRequestID != "" {
				attrs = append(attrs, slog.String("client_request_id", e.ClientRequestID))
			}
			if e.Decision != "" && e.Decision != "allow" {
				attrs = append(attrs, slog.String("decision", e.Decision), slog.String("reason", e.Reason))
				if e.Rule != "" {
					attrs = append(attrs, slog.String("rule", e.Rule))
				}
			}
			s.reqLog.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		}
		if s.opts.Observe != nil {
			s.opts.Observe(e)
		}
		if s.opts.OnDone != nil && e.Kind != "" {
			s.opts.OnDone(e)
		}
	})
}

func cacheWord(source string) string {
	if source == string(modcache.FromCache) {
		return "hit"
	}
	return "miss"
}

// recovered turns a panic into a 500 and a log line with the stack; the
// client sees no internals.
func (s *Server) recovered(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.Error("panic serving request", "path", r.URL.Path, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				writeError(w, http.StatusInternalServerError, "internal error; the request id is "+reqlog.From(r.Context()).ID)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

func onlyGetHead(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			e := reqlog.From(r.Context())
			e.Kind, e.Decision, e.Reason = "invalid", "error", "method "+r.Method+" not allowed"
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed: a module proxy is read-only")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// requestState is what logged keeps for one request.
type requestState struct {
	entry    reqlog.Entry
	rec      recorder
	idHeader [1]string
}

// recorder captures the status and body size for the log, and gives each
// write its own deadline.
type recorder struct {
	http.ResponseWriter
	status      int
	bytes       int64
	wroteHeader bool
	stall       time.Duration
	rc          http.ResponseController
}

// extend moves the connection's write deadline to stall from now. A
// writer that cannot take deadlines (a test recorder) just has none.
func (r *recorder) extend() {
	if r.stall > 0 {
		r.rc.SetWriteDeadline(time.Now().Add(r.stall))
	}
}

func (r *recorder) WriteHeader(status int) {
	if !r.wroteHeader {
		r.status, r.wroteHeader = status, true
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wroteHeader = true
	var n int
	for len(p) > 0 {
		r.extend()
		k, err := r.ResponseWriter.Write(p[:min(len(p), writeChunk)])
		n += k
		r.bytes += int64(k)
		if err != nil {
			return n, err
		}
		p = p[k:]
	}
	return n, nil
}

// ReadFrom keeps the connection's sendfile path for zips: without it,
// wrapping the writer would turn every zip hit into a userspace copy. It
// copies a chunk per deadline; the chunk stays a LimitedReader of the
// file itself, the one wrapping sendfile looks through.
func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wroteHeader = true
	if r.stall <= 0 {
		n, err := io.Copy(r.ResponseWriter, src)
		r.bytes += n
		return n, err
	}
	outer, limited := src.(*io.LimitedReader)
	var total int64
	for {
		chunk := &io.LimitedReader{R: src, N: writeChunk}
		if limited {
			chunk = &io.LimitedReader{R: outer.R, N: min(outer.N, writeChunk)}
		}
		want := chunk.N
		if want <= 0 {
			return total, nil
		}
		r.extend()
		n, err := io.Copy(r.ResponseWriter, chunk)
		total += n
		r.bytes += n
		if limited {
			outer.N -= n
		}
		if err != nil || n < want {
			return total, err
		}
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	fmt.Fprintln(w, "ok")
}

// readyz is ready when storage takes writes and the upstream answered in
// the last minute (or answers a probe now; probes are cached for 10s).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	// Not the caller's cancellation: the results are cached for every
	// caller, and one that hung up must not leave "not ready" behind.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
	defer cancel()
	if err := s.storageWritable(ctx); err != nil {
		s.log.Warn("readyz: storage not writable", "err", err)
		writeError(w, http.StatusServiceUnavailable, "not ready: storage is not writable")
		return
	}
	if err := s.upstreamReady(ctx); err != nil {
		s.log.Warn("readyz: upstream not reachable", "err", err)
		writeError(w, http.StatusServiceUnavailable, "not ready: upstream is not reachable")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	fmt.Fprintln(w, "ready")
}

// storageWritable is Cache.Writable, answered from the last check if that
// is younger than readyTTL.
func (s *Server) storageWritable(ctx context.Context) error {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if !s.readyAt.IsZero() && time.Since(s.readyAt) < s.readyTTL {
		return s.readyErr
	}
	s.readyErr = s.opts.Cache.Writable(ctx)
	s.readyAt = time.Now()
	return s.readyErr
}

func (s *Server) upstreamReady(ctx context.Context) error {
	lastOK, lastFail := s.opts.Cache.UpstreamHealth()
	if !lastOK.IsZero() && lastOK.After(lastFail) && time.Since(lastOK) < time.Minute {
		return nil
	}
	if s.opts.UpstreamProbe == nil {
		return nil
	}
	s.probeMu.Lock()
	defer s.probeMu.Unlock()
	if time.Since(s.probeAt) < 10*time.Second {
		return s.probeErr
	}
	s.probeErr = s.opts.UpstreamProbe(ctx)
	s.probeAt = time.Now()
	return s.probeErr
}
