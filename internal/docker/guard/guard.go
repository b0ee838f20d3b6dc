// Package guard is the HTTP handler of gatehouse docker: it identifies each
// client, finds the one endpoint a request reaches, applies the client's
// profile and the body rules, audits the decision, and forwards what is
// allowed to dockerd's socket unchanged, hijacked streams included.
package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
	"github.com/gatehouse-dev/gatehouse/internal/docker/inspect"
	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
)

// Options configure a Guard.
type Options struct {
	Socket    string   // dockerd's unix socket
	Clients   []Client // identity → profile; anyone else may do nothing
	Inspector *inspect.Inspector
	Audit     audit.Sink // one record per request
	Logger    *slog.Logger
	Metrics   Observer // nil: nothing is counted
}

// A Guard is an http.Handler that stands in front of dockerd.
type Guard struct {
	rules  atomic.Pointer[ruleSet]
	audit  audit.Sink
	log    *slog.Logger
	proxy  http.Handler
	daemon *http.Client // gatehouse's own questions to dockerd

	metrics Observer
}

// New returns a Guard.
func New(o Options) (*Guard, error) {
	if o.Socket == "" {
		return nil, errors.New("guard: no docker socket")
	}
	if o.Audit == nil {
		return nil, errors.New("guard: no audit sink")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Inspector == nil {
		o.Inspector = inspect.New(nil, 0)
	}
	t := daemonTransport(o.Socket)
	g := &Guard{audit: o.Audit, log: o.Logger,
		proxy: newProxy(t, o.Logger), daemon: &http.Client{Transport: t, Timeout: 30 * time.Second}}
	g.metrics = o.Metrics
	if err := g.Update(o.Clients, o.Inspector); err != nil {
		return nil, err
	}
	return g, nil
}

// ruleSet is what a reload replaces: who the clients are, with their
// profiles, and the body rules. A request reads it once, so it is judged
// by one whole set.
type ruleSet struct {
	clients []Client
	inspect *inspect.Inspector
}

// Update puts new clients and body rules in force for the requests that
// start from now on; requests under way finish under the old ones.
func (g *Guard) Update(clients []Client, in *inspect.Inspector) error {
	for _, c := range clients {
		if c.Profile == nil {
			return errors.New("guard: a client has no profile")
		}
	}
	if in == nil {
		in = inspect.New(nil, 0)
	}
	in.WithVolumeLookup(g.lookupVolume).WithContainerLookup(g.lookupContainer)
	g.rules.Store(&ruleSet{clients: clients, inspect: in})
	return nil
}

// A refusal is a request gatehouse does not forward.
type refusal struct {
	status int
	rule   string
	reason string
}

func (g *Guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	rec := audit.Record{Time: time.Now().UTC(), Service: "docker", Method: clip(r.Method, 16), Endpoint: clip(r.URL.EscapedPath(), 512)}
	rs := g.rules.Load()
	id, from, prof := rs.identify(r)
	rec.Identity, rec.AuthMethod, rec.Groups, rec.Client = id.Name, id.Method, id.Groups, from
	certInfo(&rec, r)
	var ep api.Endpoint
	defer func() { g.observe(prof, ep, rec, time.Since(start)) }()

	refuse := func(f refusal) {
		rec.Decision, rec.Rule, rec.Reason, rec.Status = "deny", f.rule, f.reason, f.status
		g.write(rec)
		if f.asDaemon() {
			writeError(w, f.status, f.reason) // dockerd's own words: see notFound
			return
		}
		writeError(w, f.status, fmt.Sprintf("gatehouse refused %s %s for %s: %s (rule %s)", rec.Method, rec.Endpoint, id.Name, f.reason, f.rule))
	}
	if prof == nil {
		refuse(refusal{http.StatusForbidden, "unknown-client", "no profile is configured for this client, so nothing is allowed"})
		return
	}
	p, err := api.Normalise(r.URL.Path)
	if err != nil {
		refuse(refusal{http.StatusForbidden, "path-normalisation", err.Error()})
		return
	}
	rec.Endpoint = p.Path
	if p.TooOld() {
		refuse(refusal{http.StatusForbidden, "api-version", fmt.Sprintf("API version %s is older than %s, whose bodies mean other things", p.Version, api.MinVersion)})
		return
	}
	ep, err = api.Lookup(r.Method, p.Path)
	if err != nil {
		refuse(refusal{http.StatusForbidden, "unknown-endpoint", err.Error()})
		return
	}
	rule, ok := prof.Allow(ep)
	if !ok {
		refuse(refusal{http.StatusForbidden, "default-deny", fmt.Sprintf("profile %q has no rule that allows %s", prof.Name, ep)})
		return
	}
	rec.Rule = prof.Name + ": " + rule.String()
	// The owner scope and exec checks (owner.go) around the body rules.
	r, c := newCall(r, ep, &p, prof, id, rs.inspect.MaxBody())
	f := c.readFirst()
	if f == nil {
		f = g.checkRequest(r, ep, p.Path, prof, rs.inspect)
	}
	if f == nil {
		f = g.checkObject(c)
	}
	if f == nil {
		f = g.checkScope(c)
	}
	c.describe(&rec)
	if f != nil {
		refuse(*f)
		return
	}

	// Forward exactly the path that was matched: decoded once and
	// re-encoded by net/http, so dockerd routes it to the same endpoint.
	out := r.Clone(r.Context())
	out.URL.Path, out.URL.RawPath = p.Full(), ""
	st := &state{streams: g.metrics}
	defer st.done()
	out = out.WithContext(context.WithValue(r.Context(), stateKey{}, st))
	cw := &countingWriter{ResponseWriter: w}
	g.proxy.ServeHTTP(cw, out)
	// A build context refused while it streamed: dockerd got a truncated
	// upload and built nothing.
	if v := inspect.ContextViolation(r.Body); v != nil && cw.status == 0 {
		refuse(refusal{http.StatusForbidden, v.Rule, v.Reason})
		return
	}

	rec.Decision, rec.Bytes = "allow", cw.n
	switch {
	case st.err != nil:
		rec.Decision, rec.Status, rec.Reason = "error", http.StatusBadGateway, "docker daemon unreachable"
	case st.status != 0:
		rec.Status = st.status
	default:
		rec.Status = cw.status
	}
	g.write(rec)
}

// checkRequest applies what holds for every allowed request, then the body
// rules unless the profile is unrestricted.
func (g *Guard) checkRequest(r *http.Request, ep api.Endpoint, path string, prof *rules.Profile, in *inspect.Inspector) *refusal {
	// dockerd reads parameters with ParseForm, which also takes them from a
	// form body; the docker CLI never sends one.
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data" {
			return &refusal{http.StatusForbidden, "no-form-body", "form-encoded bodies and unparsable content types are not accepted"}
		}
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return &refusal{http.StatusForbidden, "strict-query", "query string does not parse"}
	}
	if prof.Unrestricted {
		return nil
	}
	var body []byte
	if in.ReadsBody(ep) {
		max := in.MaxBody()
		body, err = io.ReadAll(io.LimitReader(r.Body, max+1))
		if err != nil {
			return &refusal{http.StatusBadRequest, "body-limit", "cannot read the request body"}
		}
		if int64(len(body)) > max {
			return &refusal{http.StatusRequestEntityTooLarge, "body-limit", fmt.Sprintf("request body is larger than %d bytes", max)}
		}
		// Forwarded unchanged, now with a known length.
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.TransferEncoding = nil
		r.Header.Del("Transfer-Encoding")
	}
	sc := scope(prof)
	if v := in.Check(r.Context(), inspect.Request{Endpoint: ep, Path: path, Query: q, Body: body, Scope: sc}); v != nil {
		return &refusal{http.StatusForbidden, v.Rule, v.Reason}
	}
	if in.ReadsContext(ep) {
		r.Body = in.BuildContext(r.Body, q, sc)
	}
	return nil
}

func (g *Guard) write(rec audit.Record) {
	if err := g.audit.Write(rec); err != nil {
		g.log.Error("audit write failed", "err", err)
	}
}

// writeError answers in dockerd's error format, which the docker CLI and
// SDKs print: {"message": "..."}.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"message": msg})
}

// countingWriter records the status and body bytes of a forwarded response
// and passes Flush and Hijack through (via Unwrap) for streams.
type countingWriter struct {
	http.ResponseWriter
	status int
	n      int64
}

func (c *countingWriter) WriteHeader(s int) {
	if s == http.StatusContinue {
		// dockerd's answer to a forwarded Expect: 100-continue; the client
		// already got one from gatehouse's server when the body was read.
		return
	}
	// Other 1xx answers but 101 are interim too: the final status comes
	// after them.
	if c.status == 0 && (s >= 200 || s == http.StatusSwitchingProtocols) {
		c.status = s
	}
	c.ResponseWriter.WriteHeader(s)
}

func (c *countingWriter) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	n, err := c.ResponseWriter.Write(b)
	c.n += int64(n)
	return n, err
}

func (c *countingWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// clip shortens what a client sent before it goes into an audit line or an
// error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
