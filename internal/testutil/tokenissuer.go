package testutil

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// TokenIssuer is a local OIDC issuer standing in for the token endpoints
// that cannot run here: Google's OAuth token endpoint (the JWT-bearer grant
// a service-account key uses), the GCP metadata server's identity endpoint
// and GitHub Actions' ID-token endpoint. It signs real RS256 ID tokens and
// serves discovery and JWKS, so a real OIDC verifier can check them.
// Unlike internal/testoidc (an https issuer for the server side), it runs on
// plain http, because the metadata server is reached over http.
type TokenIssuer struct {
	URL string // issuer URL: discovery at URL/.well-known/openid-configuration

	// GitHubBearer is the ACTIONS_ID_TOKEN_REQUEST_TOKEN /github expects.
	GitHubBearer string

	key    *rsa.PrivateKey
	signer jose.Signer

	mu       sync.Mutex
	lifetime time.Duration
	minted   int
	saKeys   map[string]*rsa.PublicKey // client_email → public key
}

// NewTokenIssuer starts an issuer on loopback whose tokens live lifetime.
func NewTokenIssuer(t testing.TB, lifetime time.Duration) *TokenIssuer {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "test-key"}}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		t.Fatal(err)
	}
	iss := &TokenIssuer{key: key, signer: signer, lifetime: lifetime, saKeys: map[string]*rsa.PublicKey{}, GitHubBearer: "gh-request-" + rand.Text()}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", iss.discovery)
	mux.HandleFunc("GET /jwks", iss.jwks)
	mux.HandleFunc("POST /token", iss.googleToken)
	mux.HandleFunc("GET /computeMetadata/v1/instance/service-accounts/default/identity", iss.metadataIdentity)
	mux.HandleFunc("GET /github", iss.github)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	iss.URL = srv.URL
	return iss
}

// SetLifetime changes the lifetime of tokens minted from now on.
func (iss *TokenIssuer) SetLifetime(d time.Duration) {
	iss.mu.Lock()
	iss.lifetime = d
	iss.mu.Unlock()
}

// Minted is how many tokens the issuer has handed out.
func (iss *TokenIssuer) Minted() int {
	iss.mu.Lock()
	defer iss.mu.Unlock()
	return iss.minted
}

// MetadataHost is the value for GCE_METADATA_HOST.
func (iss *TokenIssuer) MetadataHost() string { return strings.TrimPrefix(iss.URL, "http://") }

// Mint signs an ID token for subject and audience.
func (iss *TokenIssuer) Mint(t testing.TB, subject, audience string) string {
	tok, err := iss.mint(subject, audience)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (iss *TokenIssuer) mint(subject, audience string) (string, error) {
	iss.mu.Lock()
	iss.minted++
	life := iss.lifetime
	iss.mu.Unlock()
	now := time.Now()
	return jwt.Signed(iss.signer).Claims(jwt.Claims{
		Issuer: iss.URL, Subject: subject, Audience: jwt.Audience{audience},
		IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now.Add(-time.Minute)),
		Expiry: jwt.NewNumericDate(now.Add(life)), ID: rand.Text(),
	}).Claims(map[string]any{"email": subject}).Serialize()
}

// ServiceAccountKey writes a Google service-account JSON key file whose
// token_uri is this issuer, registers its key, and returns the file's path.
func (iss *TokenIssuer) ServiceAccountKey(t testing.TB, email string) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	iss.mu.Lock()
	iss.saKeys[email] = &key.PublicKey
	iss.mu.Unlock()
	data, _ := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     "gatehouse-test",
		"private_key_id": "sa-key-1",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   email,
		"client_id":      "1234567890",
		"token_uri":      iss.URL + "/token",
	})
	p := filepath.Join(t.TempDir(), "sa-key.json")
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func (iss *TokenIssuer) discovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, map[string]any{
		"issuer": iss.URL, "jwks_uri": iss.URL + "/jwks", "token_endpoint": iss.URL + "/token",
		"id_token_signing_alg_values_supported": []string{"RS256"}, "response_types_supported": []string{"id_token"},
		"subject_types_supported": []string{"public"},
	})
}

func (iss *TokenIssuer) jwks(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &iss.key.PublicKey, KeyID: "test-key", Algorithm: "RS256", Use: "sig"}}})
}

// googleToken is the JWT-bearer grant (RFC 7523) as Google runs it for
// service-account keys: the assertion, signed with the account's key, asks
// for an ID token for its target_audience.
func (iss *TokenIssuer) googleToken(w http.ResponseWriter, r *http.Request) {
	if r.PostFormValue("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		http.Error(w, `{"error":"unsupported_grant_type"}`, http.StatusBadRequest)
		return
	}
	tok, err := jwt.ParseSigned(r.PostFormValue("assertion"), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	var unverified struct {
		jwt.Claims
		TargetAudience string `json:"target_audience"`
	}
	if tok.UnsafeClaimsWithoutVerification(&unverified) != nil {
		http.Error(w, `{"error":"invalid_grant"}`, http.StatusBadRequest)
		return
	}
	iss.mu.Lock()
	pub := iss.saKeys[unverified.Issuer]
	iss.mu.Unlock()
	var claims struct {
		jwt.Claims
		TargetAudience string `json:"target_audience"`
	}
	if pub == nil || tok.Claims(pub, &claims) != nil ||
		claims.ValidateWithLeeway(jwt.Expected{AnyAudience: jwt.Audience{iss.URL + "/token"}, Time: time.Now()}, time.Minute) != nil ||
		claims.TargetAudience == "" {
		http.Error(w, `{"error":"invalid_grant","error_description":"bad assertion"}`, http.StatusBadRequest)
		return
	}
	id, err := iss.mint(claims.Issuer, claims.TargetAudience)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"id_token": id})
}

func (iss *TokenIssuer) metadataIdentity(w http.ResponseWriter, r *http.Request) {
	aud := r.URL.Query().Get("audience")
	if r.Header.Get("Metadata-Flavor") != "Google" || aud == "" {
		http.Error(w, "missing Metadata-Flavor or audience", http.StatusBadRequest)
		return
	}
	id, err := iss.mint("metadata-sa@gatehouse-test.iam.gserviceaccount.com", aud)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Metadata-Flavor", "Google")
	w.Write([]byte(id))
}

func (iss *TokenIssuer) github(w http.ResponseWriter, r *http.Request) {
	aud := r.URL.Query().Get("audience")
	if r.Header.Get("Authorization") != "Bearer "+iss.GitHubBearer || aud == "" {
		http.Error(w, `{"message":"Bad credentials"}`, http.StatusUnauthorized)
		return
	}
	id, err := iss.mint("repo:corp/app:ref:refs/heads/main", aud)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]string{"value": id})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(v)
}
