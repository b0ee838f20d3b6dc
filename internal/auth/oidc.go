package auth

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

// OIDCIssuer configures one trusted issuer of ID tokens (JWTs): GitHub
// Actions, Google, a Kubernetes cluster, or any OpenID Connect provider.
type OIDCIssuer struct {
	Issuer   string // exact "iss" claim, and the discovery base URL
	Audience string // required "aud" claim
	// JWKSURL skips discovery and fetches the signing keys from here
	// (Kubernetes clusters whose discovery document needs credentials).
	JWKSURL string
	// CAFile holds PEM roots for reaching the issuer (private CAs).
	CAFile string
	// Algorithms are the accepted signing algorithms; default RS256 and
	// ES256. "none" and HMAC algorithms are never accepted.
	Algorithms []string
	// IdentityClaim names the claim that becomes the identity; default "sub".
	IdentityClaim string
	// GroupsClaim, if set, names a claim (string or array of strings)
	// whose values become groups.
	GroupsClaim string
	// Groups are given to every identity of this issuer.
	Groups []string
	// Require lists claims that must have exactly these string values,
	// e.g. repository_owner = "corp" for GitHub Actions, whose issuer
	// signs tokens for every repository on GitHub.
	Require map[string]string
}

// allowedAlgs are the asymmetric algorithms an issuer may use.
var allowedAlgs = map[string]bool{
	oidc.RS256: true, oidc.RS384: true, oidc.RS512: true,
	oidc.ES256: true, oidc.ES384: true, oidc.ES512: true,
	oidc.PS256: true, oidc.PS384: true, oidc.PS512: true, oidc.EdDSA: true,
}

// CheckOIDCIssuer checks an issuer's settings without contacting it.
func CheckOIDCIssuer(c OIDCIssuer) error {
	if !strings.HasPrefix(c.Issuer, "https://") && !strings.HasPrefix(c.Issuer, "http://127.0.0.1") && !strings.HasPrefix(c.Issuer, "http://localhost") {
		return fmt.Errorf("issuer %q must be an https URL", c.Issuer)
	}
	if c.Audience == "" {
		return fmt.Errorf("issuer %q: audience must be set (a token for another service must not work here)", c.Issuer)
	}
	for _, a := range c.Algorithms {
		if !allowedAlgs[a] {
			return fmt.Errorf("issuer %q: algorithm %q is not allowed: use an asymmetric one such as RS256 or ES256", c.Issuer, a)
		}
	}
	if c.CAFile != "" {
		if _, err := loadPool(c.CAFile); err != nil {
			return err
		}
	}
	return nil
}

func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("cannot read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s holds no PEM certificates", file)
	}
	return pool, nil
}

// OIDC verifies ID tokens from configured issuers. Discovery happens on
// first use and is retried after a failure, so an issuer that is down at
// start does not stop gatehouse; the signing keys are cached and fetched
// again when a token names a key not yet seen (key rotation), at most
// once every 10 seconds (jwksCache).
//
// One issuer may appear in several entries, e.g. Google with a different
// required service-account email and groups in each: a token is checked
// against each entry of its issuer in order, and the first it satisfies
// (audience and required claims) decides its identity.
type OIDC struct {
	issuers map[string][]*oidcIssuer
	n       int
	log     *slog.Logger

	// verified remembers tokens that passed, by their SHA-256, until they
	// expire (at most verifiedFor): a build sends the same token hundreds
	// of times, and a signature check costs far more than a cache hit.
	mu       sync.Mutex
	verified map[[32]byte]verifiedToken
}

type verifiedToken struct {
	id    Identity
	until time.Time
}

const (
	verifiedFor = 5 * time.Minute
	maxVerified = 10000
)

type oidcIssuer struct {
	cfg    OIDCIssuer
	client *http.Client

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
	failedAt time.Time
	err      error
}

// retryDiscovery is how long a failed discovery is remembered.
const retryDiscovery = 15 * time.Second

// NewOIDC returns a verifier for the issuers.
func NewOIDC(issuers []OIDCIssuer, log *slog.Logger) (*OIDC, error) {
	o := &OIDC{issuers: map[string][]*oidcIssuer{}, log: log, verified: map[[32]byte]verifiedToken{}}
	for _, c := range issuers {
		if err := CheckOIDCIssuer(c); err != nil {
			return nil, err
		}
		if len(c.Algorithms) == 0 {
			c.Algorithms = []string{oidc.RS256, oidc.ES256}
		}
		if c.IdentityClaim == "" {
			c.IdentityClaim = "sub"
		}
		t := http.DefaultTransport.(*http.Transport).Clone()
		if c.CAFile != "" {
			pool, err := loadPool(c.CAFile)
			if err != nil {
				return nil, err
			}
			t.TLSClientConfig = tlsConfigWithRoots(pool)
		}
		o.issuers[c.Issuer] = append(o.issuers[c.Issuer], &oidcIssuer{cfg: c, client: &http.Client{Transport: t, Timeout: 15 * time.Second}})
		o.n++
	}
	return o, nil
}

// Len is the number of issuers.
func (o *OIDC) Len() int {
	if o == nil {
		return 0
	}
	return o.n
}

// Warm fetches every issuer's discovery document now, logging failures,
// so configuration mistakes show at start rather than at the first token.
func (o *OIDC) Warm(ctx context.Context) {
	for _, entries := range o.issuers {
		for _, is := range entries {
			if _, err := is.getVerifier(ctx); err != nil {
				o.log.Warn("OIDC issuer not reachable yet; will retry on use", "issuer", is.cfg.Issuer, "err", err)
			}
		}
	}
}

func (is *oidcIssuer) getVerifier(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.verifier != nil {
		return is.verifier, nil
	}
	if is.err != nil && time.Since(is.failedAt) < retryDiscovery {
		return nil, is.err
	}
	cfg := &oidc.Config{ClientID: is.cfg.Audience, SupportedSigningAlgs: is.cfg.Algorithms}
	if is.cfg.JWKSURL != "" {
		is.verifier = oidc.NewVerifier(is.cfg.Issuer, newJWKSCache(is.cfg.JWKSURL, is.client), cfg)
		return is.verifier, nil
	}
	// Not the request's own context: a client that hangs up must not
	// leave a failed discovery cached for everyone.
	dctx, cancel := context.WithTimeout(oidc.ClientContext(context.WithoutCancel(ctx), is.client), 10*time.Second)
	defer cancel()
	p, err := oidc.NewProvider(dctx, is.cfg.Issuer)
	if err != nil {
		is.err, is.failedAt = fmt.Errorf("discovery: %w", err), time.Now()
		return nil, is.err
	}
	var meta struct {
		JWKSURL string `json:"jwks_uri"`
	}
	if err := p.Claims(&meta); err != nil || meta.JWKSURL == "" {
		is.err, is.failedAt = errors.New("discovery document has no jwks_uri"), time.Now()
		return nil, is.err
	}
	is.verifier = oidc.NewVerifier(is.cfg.Issuer, newJWKSCache(meta.JWKSURL, is.client), cfg)
	return is.verifier, nil
}

// LooksLikeJWT reports whether s has the shape of a compact JWS.
func LooksLikeJWT(s string) bool {
	return strings.Count(s, ".") == 2 && strings.HasPrefix(s, "ey")
}

// Verify checks an ID token and returns its identity. The error says why a
// token was refused, for the log; it never contains the token.
func (o *OIDC) Verify(ctx context.Context, raw string) (*Identity, error) {
	key := sha256.Sum256([]byte(raw))
	now := time.Now()
	o.mu.Lock()
	v, ok := o.verified[key]
	o.mu.Unlock()
	if ok && now.Before(v.until) {
		id := v.id
		return &id, nil
	}
	iss, err := unverifiedIssuer(raw)
	if err != nil {
		return nil, err
	}
	entries := o.issuers[iss]
	if len(entries) == 0 {
		return nil, fmt.Errorf("issuer %q is not trusted", truncate(iss, 100))
	}
	var firstErr error
	for _, is := range entries {
		id, expiry, err := is.verify(ctx, raw)
		if err == nil {
			until := now.Add(verifiedFor)
			if expiry.Before(until) {
				until = expiry
			}
			o.mu.Lock()
			if len(o.verified) >= maxVerified {
				clear(o.verified)
			}
			o.verified[key] = verifiedToken{*id, until}
			o.mu.Unlock()
			return id, nil
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("issuer %s: %w", iss, err)
		}
	}
	return nil, firstErr
}

// verify checks raw against this entry and returns its identity and expiry.
func (is *oidcIssuer) verify(ctx context.Context, raw string) (*Identity, time.Time, error) {
	v, err := is.getVerifier(ctx)
	if err != nil {
		return nil, time.Time{}, err
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, time.Time{}, err
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, time.Time{}, fmt.Errorf("claims: %v", err)
	}
	for k, want := range is.cfg.Require {
		if got, _ := claims[k].(string); got != want {
			return nil, time.Time{}, fmt.Errorf("claim %s is %q, want %q", k, truncate(fmt.Sprint(claims[k]), 100), want)
		}
	}
	name, _ := claims[is.cfg.IdentityClaim].(string)
	if name == "" {
		return nil, time.Time{}, fmt.Errorf("token has no string claim %q for the identity", is.cfg.IdentityClaim)
	}
	groups := append([]string(nil), is.cfg.Groups...)
	if is.cfg.GroupsClaim != "" {
		switch g := claims[is.cfg.GroupsClaim].(type) {
		case string:
			groups = append(groups, g)
		case []any:
			for _, e := range g {
				if s, ok := e.(string); ok {
					groups = append(groups, s)
				}
			}
		}
	}
	return &Identity{Name: name, Method: "oidc", Groups: groups}, tok.Expiry, nil
}

// unverifiedIssuer reads "iss" from a JWT's payload only to pick the
// issuer whose keys must then verify it.
func unverifiedIssuer(raw string) (string, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return "", errors.New("not a JWT")
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", errors.New("JWT payload is not base64url")
	}
	var c struct {
		Iss string `json:"iss"`
	}
	if err := json.Unmarshal(payload, &c); err != nil || c.Iss == "" {
		return "", errors.New("JWT has no issuer")
	}
	return c.Iss, nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func tlsConfigWithRoots(pool *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}
