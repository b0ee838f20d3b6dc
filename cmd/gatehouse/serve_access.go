package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// accessParts is serve's access control, wired from the config: TLS, the
// authentication middleware, the authorization gate and the audit log.
type accessParts struct {
	TLS        *tls.Config // nil: plain HTTP
	Middleware []func(http.Handler) http.Handler
	Gates      []server.Gate // the access gate; it must stay the first gate, so later gates cannot reveal a hidden module
	OnDone     func(*reqlog.Entry)
	// Listener drops connections from outside allowed_networks (and
	// trusted_proxies) before the TLS handshake.
	Listener func(net.Listener) net.Listener
	audit    *audit.Log
	live     *liveAccess
	networks [2]auth.Networks // allowed, trusted: fixed at start, as the listener holds them
	listen   config.String    // the address listened on: fixed at start, like the listener
	mtls     bool             // the TLS listener asks for client certificates: fixed at start
}

// checkExposure refuses to serve an address other machines can reach with
// no authentication, unless anonymous access is asked for.
func checkExposure(cfg *config.Serve) error {
	if auth.IsLoopbackListen(string(cfg.Listen)) || cfg.HasAuthentication() || bool(cfg.AllowAnonymous) {
		return nil
	}
	return fmt.Errorf("refusing to serve %s with no authentication: configure tokens, client certificates or OIDC (see docs/security.md), or pass --allow-anonymous", cfg.Listen)
}

func buildAccess(ctx context.Context, cfg *config.Serve, log *slog.Logger, stdout io.Writer) (*accessParts, error) {
	var p accessParts
	a := &cfg.Access
	if a.TLSCert != "" {
		tc, err := tlsconf.Server(tlsconf.Options{CertFile: string(a.TLSCert), KeyFile: string(a.TLSKey), ClientCA: string(a.ClientCA), Logger: log})
		if err != nil {
			return nil, &config.Error{Key: "tls-cert", Err: err}
		}
		p.TLS = tc
	}
	allowed, err := auth.ParseNetworks(a.AllowedNetworks)
	if err != nil {
		return nil, &config.Error{Key: "allowed-networks", Err: err}
	}
	trusted, err := auth.ParseNetworks(a.TrustedProxies)
	if err != nil {
		return nil, &config.Error{Key: "trusted-proxies", Err: err}
	}
	p.networks = [2]auth.Networks{allowed, trusted}
	p.listen = cfg.Listen
	p.mtls = a.ClientCA != ""
	az, err := buildAuthz(ctx, a, p.networks, p.mtls, log, nil)
	if err != nil {
		return nil, err
	}
	p.live = newLiveAccess(az)
	p.Middleware = append(p.Middleware, p.live.Middleware)
	p.Gates = append(p.Gates, p.live)
	p.Listener = func(ln net.Listener) net.Listener {
		return auth.FilterListener(ln, allowed, trusted)
	}

	if a.AuditFile != "" || a.AuditStdout {
		ao := audit.Options{File: string(a.AuditFile), MaxSize: int64(a.AuditMaxSize), MaxFiles: int(a.AuditMaxFiles), Replica: string(a.ReplicaID), Logger: log}
		if a.AuditStdout {
			ao.Stdout = stdout
		}
		if a.AuditKeyFile != "" {
			key, err := audit.LoadKey(string(a.AuditKeyFile))
			if err != nil {
				return nil, &config.Error{Key: "audit-key-file", Err: err}
			}
			ao.Key = key
		}
		l, err := audit.Open(ao)
		if err != nil {
			return nil, &config.Error{Key: "audit-file", Err: err}
		}
		p.audit = l
		p.OnDone = func(e *reqlog.Entry) {
			if err := l.Write(audit.ProxyRecord(e)); err != nil {
				log.Error("AUDIT: cannot write the audit log", "err", err)
			}
		}
	}
	if !az.methods && !auth.IsLoopbackListen(string(cfg.Listen)) {
		log.Warn("serving without authentication: anyone who can reach this address can fetch every module", "listen", string(cfg.Listen))
	}
	if az.methods && p.TLS == nil && !auth.IsLoopbackListen(string(cfg.Listen)) {
		log.Warn("authentication without TLS: credentials cross the network in the clear, and the go command sends them only over https")
	}
	return &p, nil
}

// authz is the part of access control that a reload replaces: who the
// credentials name ([[token]], [[client_cert]], [[oidc]], anonymous), how
// fast each may go, and what each may see ([[access]], deny_status).
type authz struct {
	wrap    func(http.Handler) http.Handler // authentication, then the /sumdb/ filter of the access rules
	gate    *auth.Access                    // nil: no [[access]] rules
	methods bool                            // some authentication method is configured
	tokens  int
	rules   int
	// oidc and oidcConfig are kept so that a reload whose [[oidc]] entries
	// (and their CA files) are unchanged goes on with the same verifier: its
	// discovered keys and verified tokens, which an issuer that is down at
	// that moment could not give again.
	oidc       *auth.OIDC
	oidcConfig string
}

// Client certificates are identities when the listener, as started, asks
// for them (mtls): whether it does changes only at restart.
func buildAuthz(ctx context.Context, a *config.Access, networks [2]auth.Networks, mtls bool, log *slog.Logger, prev *authz) (*authz, error) {
	opts := auth.Options{AllowedNetworks: networks[0], TrustedProxies: networks[1], Anonymous: bool(a.AllowAnonymous), Logger: log}
	var tokens []auth.TokenEntry
	for _, t := range a.Tokens {
		tokens = append(tokens, auth.TokenEntry{Name: t.Name, Hash: t.Hash, Groups: t.Groups})
	}
	var err error
	if opts.Tokens, err = auth.NewTokens(tokens); err != nil {
		return nil, err
	}
	if mtls {
		var certs []auth.ClientCert
		for _, c := range a.ClientCerts {
			certs = append(certs, auth.ClientCert{Match: c.Match, Groups: c.Groups})
		}
		opts.Certs = auth.NewCertIdentities(certs)
	}
	oidcConfig := oidcFingerprint(a.OIDC)
	if len(a.OIDC) > 0 && prev != nil && prev.oidc != nil && prev.oidcConfig == oidcConfig {
		opts.OIDC = prev.oidc
	} else if len(a.OIDC) > 0 {
		var issuers []auth.OIDCIssuer
		for _, o := range a.OIDC {
			issuers = append(issuers, auth.OIDCIssuer{
				Issuer: o.Issuer, Audience: o.Audience, JWKSURL: o.JWKSURL, CAFile: o.CAFile, Algorithms: o.Algorithms,
				IdentityClaim: o.IdentityClaim, GroupsClaim: o.GroupsClaim, Groups: o.Groups, Require: o.Require,
			})
		}
		if opts.OIDC, err = auth.NewOIDC(issuers, log); err != nil {
			return nil, fmt.Errorf("oidc: %w", err)
		}
		go opts.OIDC.Warm(ctx)
	}
	if a.RateLimit > 0 {
		opts.Limiter = ratelimit.New(float64(a.RateLimit), int(a.RateBurst))
	}
	az := &authz{methods: opts.Methods(), tokens: len(a.Tokens), rules: len(a.Rules), oidc: opts.OIDC, oidcConfig: oidcConfig}
	if len(a.Rules) > 0 {
		var rules []auth.Rule
		for _, r := range a.Rules {
			rules = append(rules, auth.Rule{Modules: r.Modules, Groups: r.Groups})
		}
		if az.gate, err = auth.NewAccess(rules, int(a.DenyStatus)); err != nil {
			return nil, err
		}
	}
	authn := auth.Middleware(opts)
	az.wrap = func(next http.Handler) http.Handler {
		if az.gate != nil {
			next = az.gate.SumDB(next)
		}
		return authn(next)
	}
	return az, nil
}

// oidcFingerprint identifies [[oidc]] entries and the contents of their CA
// files: equal fingerprints verify the same tokens the same way.
func oidcFingerprint(entries []config.OIDC) string {
	h := sha256.New()
	for _, o := range entries {
		fmt.Fprintf(h, "%#v\n", o) // fmt prints maps sorted
		if o.CAFile != "" {
			b, _ := os.ReadFile(o.CAFile) // a file that cannot be read fails NewOIDC
			h.Write(b)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// liveAccess is the access control in force: a middleware and a gate that
// consult the current authz, which Reload swaps atomically. A request
// already past authentication finishes under the rules it started with
// for that step; none is dropped or refused because of a reload.
type liveAccess struct {
	mu   sync.Mutex // serialises swaps
	next http.Handler
	cur  atomic.Pointer[liveState]
}

type liveState struct {
	az *authz
	h  http.Handler // az.wrap(next)
}

func newLiveAccess(az *authz) *liveAccess {
	l := &liveAccess{}
	l.cur.Store(&liveState{az: az})
	return l
}

// Middleware is installed once, by server.New; it remembers next so that
// each new authz can be wrapped around it.
func (l *liveAccess) Middleware(next http.Handler) http.Handler {
	l.mu.Lock()
	l.next = next
	l.cur.Store(&liveState{az: l.cur.Load().az, h: l.cur.Load().az.wrap(next)})
	l.mu.Unlock()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { l.cur.Load().h.ServeHTTP(w, r) })
}

func (l *liveAccess) swap(az *authz) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := &liveState{az: az}
	if l.next != nil {
		st.h = az.wrap(l.next)
	}
	l.cur.Store(st)
}

func (l *liveAccess) Admit(ctx context.Context, req goproxy.Request) error {
	if g := l.cur.Load().az.gate; g != nil {
		return g.Admit(ctx, req)
	}
	return nil
}

func (l *liveAccess) FilterVersions(ctx context.Context, mod string, versions []string) ([]string, error) {
	if g := l.cur.Load().az.gate; g != nil {
		return g.FilterVersions(ctx, mod, versions)
	}
	return versions, nil
}

// Reload puts the credentials and access rules of cfg in force. TLS files
// reload by themselves; networks, listeners and the audit log stay as they
// were at start (restartOnlyChanges names those that differ).
func (p *accessParts) Reload(ctx context.Context, cfg *config.Serve, log *slog.Logger) error {
	// The listener stays where it started, whatever listen now says: judge
	// the new credentials against the address actually served.
	running := *cfg
	running.Listen = p.listen
	if err := checkExposure(&running); err != nil {
		return err
	}
	az, err := buildAuthz(ctx, &cfg.Access, p.networks, p.mtls, log, p.live.cur.Load().az)
	if err != nil {
		return err
	}
	p.live.swap(az)
	log.Info("access configuration reloaded", "tokens", az.tokens, "access_rules", az.rules)
	return nil
}

// reloadable are the keys of serve a reload puts in force (besides the
// file-only [[token]], [[client_cert]], [[oidc]] and [[access]] tables).
var reloadable = map[string]bool{"allow-anonymous": true, "rate-limit": true, "rate-burst": true, "deny-status": true}

// restartOnlyChanges lists the keys whose values differ between old and
// cfg but take effect only at restart.
func restartOnlyChanges(old, cfg *config.Serve) []string {
	return changedKeys(old.Keys(), cfg.Keys(), reloadable)
}

// changedKeys names the keys of now whose values differ from was, except
// those in except.
func changedKeys(was, now []config.Key, except map[string]bool) []string {
	before := map[string]string{}
	for _, k := range was {
		before[k.Name] = k.Value.String()
	}
	var changed []string
	for _, k := range now {
		if !except[k.Name] && before[k.Name] != k.Value.String() {
			changed = append(changed, k.Name)
		}
	}
	return changed
}

// Close flushes the audit log and reports its head, the anchor to keep
// elsewhere so that truncation of the log can be detected.
func (p *accessParts) Close(log *slog.Logger) {
	if p.audit == nil {
		return
	}
	seq, hash := p.audit.Head()
	if err := p.audit.Close(); err != nil && !errors.Is(err, io.EOF) {
		log.Error("AUDIT: closing the audit log", "err", err)
	}
	log.Info("audit log closed", "seq", seq, "hash", hash)
}
