package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
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
	opts := auth.Options{Anonymous: bool(a.AllowAnonymous), Logger: log}
	var err error
	if opts.AllowedNetworks, err = auth.ParseNetworks(a.AllowedNetworks); err != nil {
		return nil, &config.Error{Key: "allowed-networks", Err: err}
	}
	if opts.TrustedProxies, err = auth.ParseNetworks(a.TrustedProxies); err != nil {
		return nil, &config.Error{Key: "trusted-proxies", Err: err}
	}
	var tokens []auth.TokenEntry
	for _, t := range a.Tokens {
		tokens = append(tokens, auth.TokenEntry{Name: t.Name, Hash: t.Hash, Groups: t.Groups})
	}
	if opts.Tokens, err = auth.NewTokens(tokens); err != nil {
		return nil, err
	}
	if a.ClientCA != "" {
		var certs []auth.ClientCert
		for _, c := range a.ClientCerts {
			certs = append(certs, auth.ClientCert{Match: c.Match, Groups: c.Groups})
		}
		opts.Certs = auth.NewCertIdentities(certs)
	}
	if len(a.OIDC) > 0 {
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
	p.Middleware = append(p.Middleware, auth.Middleware(opts))
	p.Listener = func(ln net.Listener) net.Listener {
		return auth.FilterListener(ln, opts.AllowedNetworks, opts.TrustedProxies)
	}

	if len(a.Rules) > 0 {
		var rules []auth.Rule
		for _, r := range a.Rules {
			rules = append(rules, auth.Rule{Modules: r.Modules, Groups: r.Groups})
		}
		gate, err := auth.NewAccess(rules, int(a.DenyStatus))
		if err != nil {
			return nil, err
		}
		p.Gates = append(p.Gates, gate)
		p.Middleware = append(p.Middleware, gate.SumDB) // after authentication

	}

	if a.AuditFile != "" || a.AuditStdout {
		ao := audit.Options{File: string(a.AuditFile), MaxSize: int64(a.AuditMaxSize), MaxFiles: int(a.AuditMaxFiles)}
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
	if !opts.Methods() && !auth.IsLoopbackListen(string(cfg.Listen)) {
		log.Warn("serving without authentication: anyone who can reach this address can fetch every module", "listen", string(cfg.Listen))
	}
	if opts.Methods() && p.TLS == nil && !auth.IsLoopbackListen(string(cfg.Listen)) {
		log.Warn("authentication without TLS: credentials cross the network in the clear, and the go command sends them only over https")
	}
	return &p, nil
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
