package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
)

// Access is the access-control and audit part of serve's configuration:
// TLS, authentication, authorization, rate limits and the audit log.
// Scalars are Keys (flags, environment, file); the lists of tokens, client
// certificates, issuers and rules live only in the file.
type Access struct {
	TLSCert        String `toml:"tls_cert"`
	TLSKey         String `toml:"tls_key"`
	ClientCA       String `toml:"client_ca"`
	AllowAnonymous Bool   `toml:"allow_anonymous"`

	AllowedNetworks List `toml:"allowed_networks"`
	TrustedProxies  List `toml:"trusted_proxies"`

	RateLimit  Int `toml:"rate_limit"`
	RateBurst  Int `toml:"rate_burst"`
	DenyStatus Int `toml:"deny_status"`

	AuditFile     String `toml:"audit_file"`
	AuditMaxSize  Int    `toml:"audit_max_size"`
	AuditMaxFiles Int    `toml:"audit_max_files"`
	AuditStdout   Bool   `toml:"audit_stdout"`
	AuditKeyFile  String `toml:"audit_key_file"`
	ReplicaID     String `toml:"replica_id"`

	Tokens      []Token      `toml:"token"`
	ClientCerts []ClientCert `toml:"client_cert"`
	OIDC        []OIDC       `toml:"oidc"`
	Rules       []AccessRule `toml:"access"`
}

// Token is a [[token]] entry, as printed by gatehouse token create.
type Token struct {
	Name   string   `toml:"name"`
	Hash   string   `toml:"hash"`
	Groups []string `toml:"groups"`
}

// ClientCert is a [[client_cert]] entry: groups for a client certificate
// whose subject common name or a SAN equals Match.
type ClientCert struct {
	Match  string   `toml:"match"`
	Groups []string `toml:"groups"`
}

// OIDC is an [[oidc]] entry: one trusted issuer of ID tokens.
type OIDC struct {
	Issuer        string            `toml:"issuer"`
	Audience      string            `toml:"audience"`
	JWKSURL       string            `toml:"jwks_url"`
	CAFile        string            `toml:"ca_file"`
	Algorithms    []string          `toml:"algorithms"`
	IdentityClaim string            `toml:"identity_claim"`
	GroupsClaim   string            `toml:"groups_claim"`
	Groups        []string          `toml:"groups"`
	Require       map[string]string `toml:"require"`
}

// AccessRule is an [[access]] entry: these groups may see these modules.
type AccessRule struct {
	Modules []string `toml:"modules"`
	Groups  []string `toml:"groups"`
}

// The default rate limit: far above what one build asks for (go mod
// download of a few hundred modules is a burst of a thousand or two
// requests, then next to nothing), far below a flood.
const (
	DefaultRateLimit = 200
	DefaultRateBurst = 2000
)

func defaultAccess() Access {
	return Access{RateLimit: DefaultRateLimit, RateBurst: DefaultRateBurst, DenyStatus: 404, AuditMaxSize: 100 << 20, AuditMaxFiles: 10, ReplicaID: String(DefaultReplicaID())}
}

func (a *Access) keys() []Key {
	return []Key{
		{Name: "tls-cert", Value: &a.TLSCert, Usage: "TLS certificate `file` (PEM); reloaded when it changes"},
		{Name: "tls-key", Value: &a.TLSKey, Usage: "TLS private key `file` (PEM); reloaded when it changes"},
		{Name: "client-ca", Value: &a.ClientCA, Usage: "CA bundle `file` for client certificates (mutual TLS)"},
		{Name: "allow-anonymous", Value: &a.AllowAnonymous, Usage: "let requests without credentials in (needed to serve off loopback with no authentication)"},
		{Name: "allowed-networks", Value: &a.AllowedNetworks, Usage: "client `CIDRs` allowed to connect, checked before anything else (default: all)"},
		{Name: "trusted-proxies", Value: &a.TrustedProxies, Usage: "`CIDRs` of reverse proxies whose X-Forwarded-For names the client"},
		{Name: "rate-limit", Value: &a.RateLimit, Usage: "requests per second per identity (`n`; 0: no limit)"},
		{Name: "rate-burst", Value: &a.RateBurst, Usage: "requests an identity may make at once above the rate (`n`; 0: the rate)"},
		{Name: "deny-status", Value: &a.DenyStatus, Usage: "`status` for a module an identity may not see: 404 hides it, 403 is for debugging"},
		{Name: "audit-file", Value: &a.AuditFile, Usage: "audit log `file` (hash-chained JSON lines)"},
		{Name: "audit-max-size", Value: &a.AuditMaxSize, Usage: "rotate the audit log at this many `bytes` (0: never)"},
		{Name: "audit-max-files", Value: &a.AuditMaxFiles, Usage: "rotated audit `files` to keep (0: all)"},
		{Name: "audit-stdout", Value: &a.AuditStdout, Usage: "also write the audit log to stdout"},
		{Name: "audit-key-file", Value: &a.AuditKeyFile, Usage: "`file` with a key that seals audit lines with HMAC-SHA256 (gatehouse audit keygen)"},
		{Name: "replica-id", Value: &a.ReplicaID, Usage: "`name` of this replica, written into every audit record; each replica keeps its own audit chain (default: the host name)"},
	}
}

// HasAuthentication reports whether any authentication method is configured.
func (a *Access) HasAuthentication() bool {
	return len(a.Tokens) > 0 || len(a.OIDC) > 0 || a.ClientCA != ""
}

func (a *Access) validate() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Err: fmt.Errorf(format, args...)}
	}
	if (a.TLSCert == "") != (a.TLSKey == "") {
		return bad("tls-cert", "tls-cert and tls-key go together")
	}
	if a.ClientCA != "" && a.TLSCert == "" {
		return bad("client-ca", "mutual TLS needs tls-cert and tls-key too")
	}
	for _, f := range []struct{ key, file string }{{"tls-cert", string(a.TLSCert)}, {"tls-key", string(a.TLSKey)}, {"client-ca", string(a.ClientCA)}, {"audit-key-file", string(a.AuditKeyFile)}} {
		if f.file != "" {
			if _, err := os.Stat(f.file); err != nil {
				return bad(f.key, "cannot read %s", f.file)
			}
		}
	}
	if len(a.ClientCerts) > 0 && a.ClientCA == "" {
		return bad("client_cert", "client certificates need client-ca")
	}
	if a.RateLimit < 0 {
		return bad("rate-limit", "must not be negative")
	}
	if a.RateBurst < 0 {
		return bad("rate-burst", "must not be negative")
	}
	if a.DenyStatus != 404 && a.DenyStatus != 403 {
		return bad("deny-status", "%d is not 404 or 403", a.DenyStatus)
	}
	if a.AuditMaxSize < 0 {
		return bad("audit-max-size", "must not be negative")
	}
	if a.AuditMaxFiles < 0 {
		return bad("audit-max-files", "must not be negative")
	}
	if a.AuditKeyFile != "" && a.AuditFile == "" && !a.AuditStdout {
		return bad("audit-key-file", "seals the audit log, but there is none: set audit-file or audit-stdout too")
	}
	if err := checkReplicaID(a.ReplicaID); err != nil {
		return err
	}
	names := map[string]bool{}
	for i, t := range a.Tokens {
		key := fmt.Sprintf("token[%d]", i)
		if t.Name == "" {
			return bad(key, "needs a name")
		}
		if names[t.Name] {
			return bad(key, "name %q is used twice", t.Name)
		}
		names[t.Name] = true
		if !strings.HasPrefix(t.Hash, "sha256:") || len(t.Hash) != len("sha256:")+64 {
			return bad(key, "hash of %q must be sha256:<64 hex digits>, as printed by gatehouse token create", t.Name)
		}
	}
	for i, c := range a.ClientCerts {
		if c.Match == "" {
			return bad(fmt.Sprintf("client_cert[%d]", i), "needs match (a common name or SAN)")
		}
	}
	for i, o := range a.OIDC {
		if o.Issuer == "" || o.Audience == "" {
			return bad(fmt.Sprintf("oidc[%d]", i), "needs issuer and audience")
		}
	}
	for i, r := range a.Rules {
		if len(r.Modules) == 0 || len(r.Groups) == 0 {
			return bad(fmt.Sprintf("access[%d]", i), "needs modules and groups")
		}
	}
	return nil
}

// Redacted returns a copy of c fit to print: secret keys, token hashes and
// passwords in URLs are replaced. Features that add secrets to the file
// must blank them here too.
func (c *Serve) Redacted() *Serve {
	out := *c
	for _, k := range out.Keys() {
		if k.Secret && k.Value.String() != "" {
			k.Value.Set(redacted)
		}
	}
	out.Upstream = String(redactURLs(string(out.Upstream)))
	out.SumDBURL = String(redactURLs(string(out.SumDBURL)))
	out.Tokens = nil
	for _, t := range c.Tokens {
		t.Hash = redacted
		out.Tokens = append(out.Tokens, t)
	}
	out.PrivateNetrc = nil
	for _, n := range c.PrivateNetrc {
		if n.Password != "" {
			n.Password = redacted
		}
		out.PrivateNetrc = append(out.PrivateNetrc, n)
	}
	// A credential helper may be an inline script holding a password.
	if out.PrivateGitCredentialHelper != "" {
		out.PrivateGitCredentialHelper = redacted
	}
	return &out
}

const redacted = "REDACTED"

// redactURLs hides the password of every URL in a GOPROXY-style list.
func redactURLs(s string) string {
	var b strings.Builder
	for s != "" {
		i := strings.IndexAny(s, ",|")
		part, sep := s, ""
		if i >= 0 {
			part, sep, s = s[:i], s[i:i+1], s[i+1:]
		} else {
			s = ""
		}
		if u, err := url.Parse(strings.TrimSpace(part)); err == nil && u.User != nil {
			u.User = url.User(redacted)
			part = u.String()
		}
		b.WriteString(part + sep)
	}
	return b.String()
}
