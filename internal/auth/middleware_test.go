package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/ratelimit"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
	"github.com/gatehouse-dev/gatehouse/internal/testoidc"
	"github.com/gatehouse-dev/gatehouse/internal/testpki"
)

// result is what a request through the middleware produced.
type result struct {
	status int
	body   string
	header http.Header
	id     *auth.Identity
	entry  reqlog.Entry
}

func do(t *testing.T, opts auth.Options, r *http.Request) result {
	t.Helper()
	var got *auth.Identity
	h := auth.Middleware(opts)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = auth.FromContext(r.Context())
		io.WriteString(w, "ok")
	}))
	e := &reqlog.Entry{}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r.WithContext(reqlog.With(r.Context(), e)))
	return result{rec.Code, rec.Body.String(), rec.Header(), got, *e}
}

func req(header ...string) *http.Request {
	r := httptest.NewRequest("GET", "https://proxy.example:8443/example.com/m/@v/list", nil)
	r.RemoteAddr = "192.0.2.10:5555"
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	return r
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestTokenAuthentication(t *testing.T) {
	tok, hash, _ := auth.NewToken()
	ts, _ := auth.NewTokens([]auth.TokenEntry{{Name: "ci-build", Hash: hash, Groups: []string{"build"}}})
	opts := auth.Options{Tokens: ts, Logger: quietLogger()}

	for _, h := range []string{"Bearer " + tok, basic("ci-build", tok), basic("anything", tok)} {
		res := do(t, opts, req("Authorization", h))
		if res.status != 200 || res.id == nil || res.id.Name != "ci-build" || !res.id.InGroup("build") {
			t.Errorf("%.10s…: %d %+v", h, res.status, res.id)
		}
		if res.entry.Identity != "ci-build" || res.entry.Groups[0] != "build" || res.entry.Client != "192.0.2.10" {
			t.Errorf("entry %+v", res.entry)
		}
	}
	// Missing, wrong and malformed credentials: 401 with a challenge and
	// a body that says what to do, never echoing the credential.
	wrong := tok[:len(tok)-2] + "xx"
	for _, c := range []struct{ header, want, reason string }{
		{"", "authentication required", "authentication required"},
		{"Bearer " + wrong, "authentication failed", "unknown token"},
		{basic("ci-build", wrong), "authentication failed", "unknown token"},
		{"Bearer " + hash, "authentication failed", ""},
		{"Digest username=x", "authentication failed", "unsupported"},
		{"Basic !!!!", "authentication failed", "malformed"},
	} {
		res := do(t, opts, req("Authorization", c.header))
		if res.status != 401 || res.id != nil {
			t.Errorf("%q: status %d id %+v, want 401", c.header, res.status, res.id)
			continue
		}
		if !strings.HasPrefix(res.body, "gatehouse: "+c.want) || strings.Count(res.body, "\n") > 8 {
			t.Errorf("%q: body %q", c.header, res.body)
		}
		if ct := res.header.Get("Content-Type"); ct != "text/plain; charset=UTF-8" {
			t.Errorf("content type %q", ct)
		}
		if len(res.header.Values("WWW-Authenticate")) == 0 {
			t.Errorf("%q: no WWW-Authenticate", c.header)
		}
		if strings.Contains(res.body, wrong) || strings.Contains(res.entry.Reason, wrong) {
			t.Errorf("credential echoed: %q / %q", res.body, res.entry.Reason)
		}
		if res.entry.Decision != "deny" || !strings.Contains(res.entry.Reason, c.reason) || res.entry.Kind != "list" || res.entry.Module != "example.com/m" {
			t.Errorf("%q: entry %+v", c.header, res.entry)
		}
	}
	// An unauthenticated probe of a path that is no protocol request is
	// refused and still audited (the audit log skips entries without a kind).
	probe := httptest.NewRequest("GET", "https://proxy.example:8443/example.com/..%2f..%2fetc/@v/list", nil)
	if res := do(t, opts, probe); res.status != 401 || res.entry.Kind != "invalid" || res.entry.Decision != "deny" {
		t.Errorf("probe: status %d, entry %+v; want 401, kind invalid, deny", res.status, res.entry)
	}
	// netrc hint names the host.
	if res := do(t, opts, req()); !strings.Contains(res.body, "machine proxy.example:8443 ") {
		t.Errorf("body lacks the netrc hint: %q", res.body)
	}
	// Health checks need no credentials.
	r := req()
	r.URL.Path = "/healthz"
	if res := do(t, opts, r); res.status != 200 {
		t.Errorf("/healthz: %d", res.status)
	}
}

func TestAnonymous(t *testing.T) {
	_, hash, _ := auth.NewToken()
	ts, _ := auth.NewTokens([]auth.TokenEntry{{Name: "ci", Hash: hash}})
	// No methods at all: everyone is anonymous.
	if res := do(t, auth.Options{Logger: quietLogger()}, req()); res.status != 200 || res.id != auth.Anonymous {
		t.Errorf("no methods: %d %+v", res.status, res.id)
	}
	// Methods plus anonymous: no credentials is anonymous, bad ones are still refused.
	opts := auth.Options{Tokens: ts, Anonymous: true, Logger: quietLogger()}
	if res := do(t, opts, req()); res.status != 200 || res.id != auth.Anonymous || res.entry.AuthMethod != "anonymous" {
		t.Errorf("anonymous: %d %+v", res.status, res.id)
	}
	if res := do(t, opts, req("Authorization", "Bearer gth_nope")); res.status != 401 {
		t.Errorf("bad token with anonymous on: %d", res.status)
	}
}

func TestNetworkAllowlist(t *testing.T) {
	allowed, _ := auth.ParseNetworks([]string{"198.51.100.0/24"})
	trusted, _ := auth.ParseNetworks([]string{"192.0.2.10"})
	opts := auth.Options{AllowedNetworks: allowed, TrustedProxies: trusted, Logger: quietLogger()}
	// The peer is a trusted proxy speaking for an allowed client.
	if res := do(t, opts, req("X-Forwarded-For", "198.51.100.7")); res.status != 200 || res.entry.Client != "198.51.100.7" {
		t.Errorf("via trusted proxy: %d %+v", res.status, res.entry)
	}
	// The proxy itself is not in the allowlist.
	if res := do(t, opts, req()); res.status != 403 || !strings.Contains(res.body, "192.0.2.10 is not allowed") {
		t.Errorf("proxy itself: %d %q", res.status, res.body)
	}
	// An untrusted peer cannot claim an allowed address.
	r := req("X-Forwarded-For", "198.51.100.7")
	r.RemoteAddr = "203.0.113.5:1"
	res := do(t, opts, r)
	if res.status != 403 || res.entry.Client != "203.0.113.5" || res.entry.Reason != "network not allowed" {
		t.Errorf("spoofed XFF: %d %+v", res.status, res.entry)
	}
	// The allowlist is checked first, even for health checks.
	r.URL.Path = "/healthz"
	if res := do(t, opts, r); res.status != 403 {
		t.Errorf("/healthz from a refused network: %d", res.status)
	}
}

func TestRateLimit(t *testing.T) {
	tok, hash, _ := auth.NewToken()
	tok2, hash2, _ := auth.NewToken()
	ts, _ := auth.NewTokens([]auth.TokenEntry{{Name: "runaway", Hash: hash}, {Name: "calm", Hash: hash2}})
	opts := auth.Options{Tokens: ts, Limiter: ratelimit.New(1, 5), Logger: quietLogger()}
	for i := 0; i < 5; i++ {
		if res := do(t, opts, req("Authorization", "Bearer "+tok)); res.status != 200 {
			t.Fatalf("request %d: %d", i, res.status)
		}
	}
	// The same token as a Basic password shares the bucket.
	if res := do(t, opts, req("Authorization", basic("runaway", tok))); res.status != 429 {
		t.Errorf("same token over Basic: %d, want 429", res.status)
	}
	res := do(t, opts, req("Authorization", "Bearer "+tok))
	if res.status != 429 || res.header.Get("Retry-After") != "1" || !strings.HasPrefix(res.body, "gatehouse: too many requests") {
		t.Fatalf("over the limit: %d %q %q", res.status, res.header.Get("Retry-After"), res.body)
	}
	if res.entry.Reason != "rate limited" || res.entry.Identity != "runaway" {
		t.Errorf("entry %+v", res.entry)
	}
	if res := do(t, opts, req("Authorization", "Bearer "+tok2)); res.status != 200 {
		t.Errorf("another identity was limited too: %d", res.status)
	}
}

func TestClientCertificates(t *testing.T) {
	ca := testpki.NewCA(t, "clients")
	_, hash, _ := auth.NewToken()
	ts, _ := auth.NewTokens([]auth.TokenEntry{{Name: "ci", Hash: hash}})
	opts := auth.Options{
		Tokens: ts, Logger: quietLogger(),
		Certs: auth.NewCertIdentities([]auth.ClientCert{{Match: "runner-7.ci.corp", Groups: []string{"build"}}, {Match: "ops", Groups: []string{"ops"}}}),
	}
	withCert := func(p testpki.Pair) *http.Request {
		c := p.TLS(t)
		leaf, _ := x509.ParseCertificate(c.Certificate[0])
		r := req()
		r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf, ca.Cert}}}
		return r
	}
	res := do(t, opts, withCert(ca.Client(t, "runner-7", "runner-7.ci.corp")))
	if res.status != 200 || res.id.Name != "runner-7.ci.corp" || res.id.Method != "mtls" || !res.id.InGroup("build") || res.id.InGroup("ops") {
		t.Errorf("SAN match: %d %+v", res.status, res.id)
	}
	res = do(t, opts, withCert(ca.Client(t, "someone")))
	if res.status != 200 || res.id.Name != "someone" || len(res.id.Groups) != 0 {
		t.Errorf("unlisted cert: %d %+v", res.status, res.id)
	}
	// A certificate the TLS layer did not verify is no identity.
	r := req()
	c := ca.Client(t, "ops").TLS(t)
	leaf, _ := x509.ParseCertificate(c.Certificate[0])
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}}
	if res := do(t, opts, r); res.status != 401 {
		t.Errorf("unverified cert: %d", res.status)
	}
}

func TestOIDC(t *testing.T) {
	is := testoidc.New(t)
	other := testoidc.New(t) // a real issuer, but not trusted
	o, err := auth.NewOIDC([]auth.OIDCIssuer{{
		Issuer: is.URL, Audience: "https://gatehouse.corp", CAFile: is.CAFile,
		IdentityClaim: "repository", GroupsClaim: "teams", Groups: []string{"ci"},
		Require: map[string]string{"repository_owner": "corp"},
	}}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	o.Warm(context.Background())
	opts := auth.Options{OIDC: o, Logger: quietLogger()}
	good := func() map[string]any {
		c := is.Claims("repo:corp/app:ref:refs/heads/main", "https://gatehouse.corp")
		c["repository"], c["repository_owner"], c["teams"] = "corp/app", "corp", []string{"build", "web"}
		return c
	}
	res := do(t, opts, req("Authorization", "Bearer "+is.Mint(t, good())))
	if res.status != 200 || res.id.Name != "corp/app" || res.id.Method != "oidc" || !res.id.InGroup("ci") || !res.id.InGroup("web") {
		t.Fatalf("good token: %d %+v %q", res.status, res.id, res.body)
	}
	// As the password of Basic auth too (.netrc).
	if res := do(t, opts, req("Authorization", basic("oidc", is.Mint(t, good())))); res.status != 200 {
		t.Errorf("ID token as Basic password: %d", res.status)
	}

	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	set := func(k string, v any) func() string {
		return func() string { c := good(); c[k] = v; return is.Mint(t, c) }
	}
	bad := map[string]func() string{
		"expired":        set("exp", time.Now().Add(-time.Minute).Unix()),
		"not yet valid":  set("nbf", time.Now().Add(time.Hour).Unix()),
		"wrong audience": set("aud", "https://other.service"),
		"wrong issuer":   set("iss", "https://evil.example"),
		"other owner":    set("repository_owner", "evil"),
		"no identity":    set("repository", 42),
		"untrusted issuer": func() string {
			c := good()
			c["iss"] = other.URL
			return other.Mint(t, c)
		},
		"alg none": func() string {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
			p, _ := json.Marshal(good())
			return h + "." + base64.RawURLEncoding.EncodeToString(p) + "."
		},
		"signed by an unknown key": func() string {
			return testoidc.Sign(t, jose.ES256, ecKey, "", good())
		},
		"HS256 with a guessable key": func() string {
			return testoidc.Sign(t, jose.HS256, []byte("secretsecretsecretsecretsecret12"), "", good())
		},
		"tampered payload": func() string {
			parts := strings.Split(is.Mint(t, good()), ".")
			c := good()
			c["repository"] = "corp/admin"
			p, _ := json.Marshal(c)
			return parts[0] + "." + base64.RawURLEncoding.EncodeToString(p) + "." + parts[2]
		},
	}
	for name, mint := range bad {
		tok := mint()
		res := do(t, opts, req("Authorization", "Bearer "+tok))
		if res.status != 401 || res.id != nil {
			t.Errorf("%s: status %d, identity %+v; want 401", name, res.status, res.id)
		}
		t.Logf("%s: %s", name, res.entry.Reason)
		if strings.Contains(res.entry.Reason, tok) || strings.Contains(res.body, tok) {
			t.Errorf("%s: token echoed", name)
		}
	}
}

func TestCheckOIDCIssuer(t *testing.T) {
	for _, c := range []auth.OIDCIssuer{
		{Issuer: "http://idp.example", Audience: "a"},
		{Issuer: "https://idp.example"},
		{Issuer: "https://idp.example", Audience: "a", Algorithms: []string{"none"}},
		{Issuer: "https://idp.example", Audience: "a", Algorithms: []string{"HS256"}},
	} {
		if err := auth.CheckOIDCIssuer(c); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// One issuer, several entries (Google service accounts): each token gets
// the groups of the entry whose required claims it meets, and a token of
// the same issuer that meets none is refused.
func TestOIDCEntriesPerIssuer(t *testing.T) {
	is := testoidc.New(t)
	entry := func(email, group string) auth.OIDCIssuer {
		return auth.OIDCIssuer{Issuer: is.URL, Audience: "https://gatehouse.corp", CAFile: is.CAFile, IdentityClaim: "email",
			Groups: []string{group}, Require: map[string]string{"email": email}}
	}
	o, err := auth.NewOIDC([]auth.OIDCIssuer{entry("builder@p.iam", "build"), entry("web@p.iam", "web")}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	opts := auth.Options{OIDC: o, Logger: quietLogger()}
	for email, group := range map[string]string{"builder@p.iam": "build", "web@p.iam": "web", "stranger@gmail": ""} {
		c := is.Claims("1234", "https://gatehouse.corp")
		c["email"] = email
		res := do(t, opts, req("Authorization", "Bearer "+is.Mint(t, c)))
		if group == "" {
			if res.status != 401 {
				t.Errorf("%s: %d, want 401", email, res.status)
			}
			continue
		}
		if res.status != 200 || res.id.Name != email || len(res.id.Groups) != 1 || res.id.Groups[0] != group {
			t.Errorf("%s: %d %+v", email, res.status, res.id)
		}
	}
}

// jwks_url: keys from a fixed URL, without discovery.
func TestOIDCWithJWKSURL(t *testing.T) {
	is := testoidc.New(t)
	o, err := auth.NewOIDC([]auth.OIDCIssuer{{Issuer: is.URL, Audience: "aud", CAFile: is.CAFile, JWKSURL: is.URL + "/keys"}}, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	opts := auth.Options{OIDC: o, Logger: quietLogger()}
	if res := do(t, opts, req("Authorization", "Bearer "+is.Mint(t, is.Claims("svc", "aud")))); res.status != 200 || res.id.Name != "svc" {
		t.Errorf("jwks_url: %d %+v %q", res.status, res.id, res.body)
	}
	if res := do(t, opts, req("Authorization", "Bearer "+is.Mint(t, is.Claims("svc", "other")))); res.status != 401 {
		t.Errorf("wrong audience with jwks_url: %d", res.status)
	}
}

// What authentication adds to every request: token (hash + constant-time
// scan of 100 entries), and a cached ID token verification.
func BenchmarkMiddleware(b *testing.B) {
	var entries []auth.TokenEntry
	var tok string
	for i := 0; i < 100; i++ {
		t, h, _ := auth.NewToken()
		entries = append(entries, auth.TokenEntry{Name: "t" + string(rune('a'+i%26)), Hash: h})
		tok = t
	}
	ts, _ := auth.NewTokens(entries)
	is := testoidc.New(b)
	o, _ := auth.NewOIDC([]auth.OIDCIssuer{{Issuer: is.URL, Audience: "aud", CAFile: is.CAFile}}, quietLogger())
	idTok := is.Mint(b, is.Claims("svc", "aud"))
	h := auth.Middleware(auth.Options{Tokens: ts, OIDC: o, Limiter: ratelimit.New(1e9, 1e9), Logger: quietLogger()})(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, bc := range []struct{ name, header string }{{"token", "Bearer " + tok}, {"oidc", "Bearer " + idTok}} {
		b.Run(bc.name, func(b *testing.B) {
			r := req("Authorization", bc.header)
			w := httptest.NewRecorder()
			for b.Loop() {
				h.ServeHTTP(w, r.WithContext(reqlog.With(r.Context(), &reqlog.Entry{})))
				if w.Code != 200 {
					b.Fatal(w.Code)
				}
			}
		})
	}
}

// A verified token is remembered, but not past its expiry.
func TestOIDCVerifiedTokenExpires(t *testing.T) {
	is := testoidc.New(t)
	o, _ := auth.NewOIDC([]auth.OIDCIssuer{{Issuer: is.URL, Audience: "aud", CAFile: is.CAFile}}, quietLogger())
	opts := auth.Options{OIDC: o, Logger: quietLogger()}
	c := is.Claims("svc", "aud")
	c["exp"] = time.Now().Add(1500 * time.Millisecond).Unix()
	tok := is.Mint(t, c)
	if res := do(t, opts, req("Authorization", "Bearer "+tok)); res.status != 200 {
		t.Fatalf("fresh token: %d", res.status)
	}
	time.Sleep(time.Until(time.Unix(c["exp"].(int64), 0)) + 100*time.Millisecond)
	if res := do(t, opts, req("Authorization", "Bearer "+tok)); res.status != 401 {
		t.Errorf("expired token accepted from the cache: %d", res.status)
	}
}

// Anonymous clients are limited per address, and an IPv6 client holds a
// whole /64: rotating addresses within it must not buy a fresh bucket.
func TestAnonymousRateLimitPerIPv6Network(t *testing.T) {
	opts := auth.Options{Anonymous: true, Limiter: ratelimit.New(0.001, 2), Logger: quietLogger()}
	from := func(addr string) int {
		r := req()
		r.RemoteAddr = addr
		return do(t, opts, r).status
	}
	if from("[2001:db8:1:2::1]:1000") != 200 || from("[2001:db8:1:2::2]:1000") != 200 {
		t.Fatal("the first two requests (burst 2) were refused")
	}
	if st := from("[2001:db8:1:2:ffff::3]:1000"); st != 429 {
		t.Errorf("third address of one /64: %d, want 429", st)
	}
	// Another /64, and IPv4 addresses, have their own buckets.
	for _, a := range []string{"[2001:db8:1:3::1]:1000", "192.0.2.1:1", "192.0.2.2:1"} {
		if st := from(a); st != 200 {
			t.Errorf("%s: %d, want 200", a, st)
		}
	}
}
