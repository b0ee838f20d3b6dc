// Package testoidc is an OpenID Connect issuer for tests: it serves a
// discovery document and a JWKS over TLS on loopback, and mints ID tokens
// signed with its own keys, like GitHub Actions, Google or a Kubernetes
// cluster would.
package testoidc

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/testpki"
)

// Issuer is a running test issuer.
type Issuer struct {
	URL    string // the issuer ("iss") and discovery base URL
	CAFile string // PEM of the CA that signed its TLS certificate

	srv       *httptest.Server
	mu        sync.Mutex
	keys      []*rsa.PrivateKey // keys[0] signs; all are published
	kids      []string
	JWKSFetch atomic.Int64
}

// New starts an issuer over TLS with a certificate from a fresh CA.
func New(t testing.TB) *Issuer {
	t.Helper()
	is := &Issuer{}
	is.Rotate(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"issuer":                                is.URL,
			"jwks_uri":                              is.URL + "/keys",
			"authorization_endpoint":                is.URL + "/auth",
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
			"id_token_signing_alg_values_supported": []string{"RS256"},
		})
	})
	mux.HandleFunc("/keys", func(w http.ResponseWriter, r *http.Request) {
		is.JWKSFetch.Add(1)
		is.mu.Lock()
		var set jose.JSONWebKeySet
		for i, k := range is.keys {
			set.Keys = append(set.Keys, jose.JSONWebKey{Key: &k.PublicKey, KeyID: is.kids[i], Algorithm: "RS256", Use: "sig"})
		}
		is.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	})
	ca := testpki.NewCA(t, "test OIDC CA")
	is.srv = httptest.NewUnstartedServer(mux)
	is.srv.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t).TLS(t)}, MinVersion: tls.VersionTLS12}
	is.srv.StartTLS()
	t.Cleanup(is.srv.Close)
	is.URL = is.srv.URL
	is.CAFile = ca.WriteCA(t, t.TempDir(), "oidc-ca.pem")
	return is
}

// Rotate adds a new signing key; the old ones stay published.
func (is *Issuer) Rotate(t testing.TB) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	is.mu.Lock()
	defer is.mu.Unlock()
	is.keys = append([]*rsa.PrivateKey{k}, is.keys...)
	is.kids = append([]string{time.Now().Format("150405.000000000")}, is.kids...)
}

// Claims returns valid claims for subject sub and audience aud, expiring
// in ten minutes; tests change them to make bad tokens.
func (is *Issuer) Claims(sub, aud string) map[string]any {
	now := time.Now()
	return map[string]any{"iss": is.URL, "sub": sub, "aud": aud, "iat": now.Unix(), "nbf": now.Add(-time.Minute).Unix(), "exp": now.Add(10 * time.Minute).Unix()}
}

// Mint signs claims with the current key (RS256).
func (is *Issuer) Mint(t testing.TB, claims map[string]any) string {
	t.Helper()
	is.mu.Lock()
	key, kid := is.keys[0], is.kids[0]
	is.mu.Unlock()
	return Sign(t, jose.RS256, key, kid, claims)
}

// Sign signs claims with any key and algorithm (for forged tokens).
func Sign(t testing.TB, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Close stops the issuer, as an outage would.
func (is *Issuer) Close() { is.srv.Close() }
