package auth

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

// Options configures the authentication middleware.
type Options struct {
	AllowedNetworks Networks // empty: every address
	TrustedProxies  Networks // may set the client address with X-Forwarded-For

	Tokens    *Tokens
	Certs     *CertIdentities // nil: client certificates are not identities
	OIDC      *OIDC
	Anonymous bool // requests without credentials get the Anonymous identity

	Limiter *ratelimit.Limiter // per identity; nil: no limit
	Logger  *slog.Logger
}

// Methods reports whether any authentication method is configured.
func (o *Options) Methods() bool {
	return o.Tokens.Len() > 0 || o.Certs != nil || o.OIDC.Len() > 0
}

// Middleware checks, in order: the client's network, its credentials, and
// its rate. It records the outcome in the request's reqlog.Entry and puts
// the Identity in the request context.
func Middleware(opts Options) func(http.Handler) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	a := &authn{opts}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.serve(w, r, next) })
	}
}

type authn struct{ Options }

func (a *authn) serve(w http.ResponseWriter, r *http.Request, next http.Handler) {
	e := reqlog.From(r.Context())
	if strings.HasPrefix(r.URL.Path, "/sumdb/") {
		e.Kind = "sumdb" // so that checksum database requests are audited too
	}
	addr, ok := ClientAddr(r, a.TrustedProxies)
	if ok {
		e.Client = addr.String()
	}
	if len(a.AllowedNetworks) > 0 && (!ok || !a.AllowedNetworks.Contains(addr)) {
		e.Decision, e.Reason = "deny", "network not allowed"
		describe(e, r)
		refuse(w, http.StatusForbidden, fmt.Sprintf("gatehouse: access from %s is not allowed\nAsk the proxy's operator to add your network to allowed_networks.", e.Client))
		return
	}
	// Health checks carry no credentials and reveal nothing.
	if r.URL.Path == "/healthz" || r.URL.Path == "/readyz" {
		next.ServeHTTP(w, r)
		return
	}
	id, why := a.authenticate(r)
	if id == nil {
		describe(e, r)
		e.Decision, e.Reason = "deny", "authentication failed: "+why
		if why == noCredentials {
			e.Reason = "authentication required"
		}
		a.Logger.Info("authentication refused", "id", e.ID, "client", e.Client, "reason", why)
		a.challenge(w, r, why)
		return
	}
	e.Identity, e.AuthMethod, e.Groups = id.Name, id.Method, id.Groups
	key := id.Method + ":" + id.Name
	switch id.Method {
	case "basic":
		key = "token:" + id.Name // one bucket per token, however it is sent
	case "anonymous":
		key = "anonymous:" + e.Client // anonymous clients do not share one bucket
		if ok && addr.Is6() {
			// One IPv6 client holds a /64 and may pick any address in it.
			key = "anonymous:" + netip.PrefixFrom(addr, 64).Masked().String()
		}
	}
	if ok, wait := a.Limiter.Allow(key); !ok {
		e.Decision, e.Reason = "deny", "rate limited"
		describe(e, r)
		secs := int(math.Ceil(wait.Seconds()))
		w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
		refuse(w, http.StatusTooManyRequests, fmt.Sprintf("gatehouse: too many requests from %s; retry in %s\nThe proxy limits each identity's request rate; ask its operator if builds need more.", id.Name, (time.Duration(secs)*time.Second).String()))
		return
	}
	ctx := context.WithValue(WithIdentity(r.Context(), id), limitKey{}, key)
	next.ServeHTTP(w, r.WithContext(ctx))
}

// noCredentials is authenticate's reason when a request carried none.
const noCredentials = "no credentials"

// authenticate returns the request's identity, or nil and the reason for
// the log (never containing the credential).
func (a *authn) authenticate(r *http.Request) (*Identity, string) {
	if !a.Methods() {
		return Anonymous, "" // serve refuses this setup off loopback unless told
	}
	if h := r.Header.Get("Authorization"); h != "" {
		c, err := ParseAuthorization(h)
		if err != nil {
			return nil, err.Error()
		}
		switch {
		case strings.HasPrefix(c.Secret, TokenPrefix):
			if id := a.Tokens.Lookup(c.Secret); id != nil {
				if c.Scheme == "basic" {
					id.Method = "basic"
				}
				return id, ""
			}
			return nil, "unknown token"
		case LooksLikeJWT(c.Secret) && a.OIDC.Len() > 0:
			id, err := a.OIDC.Verify(r.Context(), c.Secret)
			if err != nil {
				return nil, "ID token refused: " + err.Error()
			}
			return id, ""
		}
		return nil, "credential is neither a gatehouse token nor an ID token of a configured issuer"
	}
	if a.Certs != nil && r.TLS != nil && len(r.TLS.VerifiedChains) > 0 {
		if id := a.Certs.Identity(r.TLS.VerifiedChains[0][0]); id != nil {
			return id, ""
		}
		return nil, "client certificate names no subject"
	}
	if a.Anonymous {
		return Anonymous, ""
	}
	return nil, noCredentials
}

var hostRE = regexp.MustCompile(`^[A-Za-z0-9.:\[\]-]{1,260}$`)

// challenge answers 401 with WWW-Authenticate and a body that tells the
// person at the go command what to do.
func (a *authn) challenge(w http.ResponseWriter, r *http.Request, why string) {
	// Go ≥ 1.24 matches a netrc machine against host:port when the URL
	// has a port, so the hint names exactly what the request used.
	host := r.Host
	if !hostRE.MatchString(host) {
		host = "<proxy host>"
	}
	var methods []string
	if a.Tokens.Len() > 0 {
		methods = append(methods, "a gatehouse token")
	}
	if a.OIDC.Len() > 0 {
		methods = append(methods, "an ID token")
	}
	if a.Certs != nil {
		methods = append(methods, "a client certificate")
	}
	w.Header().Add("WWW-Authenticate", `Basic realm="gatehouse", charset="UTF-8"`)
	if why == noCredentials {
		w.Header().Add("WWW-Authenticate", `Bearer realm="gatehouse"`)
		refuse(w, http.StatusUnauthorized, fmt.Sprintf(
			"gatehouse: authentication required: this proxy accepts %s\n"+
				"Put 'machine %s login <name> password <token>' in ~/.netrc (or use GOAUTH);\n"+
				"go sends credentials only over https.", strings.Join(methods, " or "), host))
		return
	}
	w.Header().Add("WWW-Authenticate", `Bearer realm="gatehouse", error="invalid_token"`)
	refuse(w, http.StatusUnauthorized,
		"gatehouse: authentication failed: the credentials were not accepted\n"+
			"The token may be mistyped, revoked or expired; check ~/.netrc or GOAUTH, or ask for a new one.")
}

// describe fills in what a refused request asked for, so a refusal before
// the protocol handler still yields a complete audit record.
func describe(e *reqlog.Entry, r *http.Request) {
	if e.Kind == "sumdb" {
		return
	}
	if req, err := goproxy.Parse(r.URL.EscapedPath()); err == nil {
		e.Module, e.Version, e.Kind = req.Module, req.Version, string(req.Kind)
	} else {
		e.Kind = "invalid" // still audited, with the path as asked
	}
}

// refuse writes a short text/plain refusal the go command shows. The go
// command drops a body with control characters, so names taken from
// credentials are cleaned of them.
func refuse(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	fmt.Fprintln(w, strings.Map(func(r rune) rune {
		if r != '\n' && (r < 0x20 || r == 0x7f) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(msg, "")))
}
