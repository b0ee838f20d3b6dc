package integration

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testpki"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// authServe is gatehouse serve over https with the three ways a client
// side can authenticate: a token, a client certificate, and OIDC ID tokens
// from a local issuer (standing in for Google and GitHub).
type authServe struct {
	up     *testproxy.Server
	p      *proc
	ca     *testpki.CA
	caFile string
	iss    *testutil.TokenIssuer
	token  string // of identity ci-build
}

const gatehouseAudience = "https://gatehouse.corp.test"

func newAuthServe(t *testing.T, tokenLifetime time.Duration) *authServe {
	t.Helper()
	dir := t.TempDir()
	s := &authServe{up: testproxy.New(t), ca: testpki.NewCA(t, "gatehouse test CA"), iss: testutil.NewTokenIssuer(t, tokenLifetime)}
	s.caFile = s.ca.WriteCA(t, dir, "ca.pem")
	tok, hash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	s.token = tok
	cert, key := s.ca.Server(t).WriteFiles(t, dir, "server")
	cfg := fmt.Sprintf(`tls_cert = %q
tls_key = %q
client_ca = %q

[[token]]
name = "ci-build"
hash = %q
groups = ["build"]

[[client_cert]]
match = "runner-1.ci.corp"
groups = ["build"]

[[oidc]]
issuer = %q
audience = %q
identity_claim = "email"
groups = ["build"]
`, cert, key, s.caFile, hash, s.iss.URL, gatehouseAudience)
	file := filepath.Join(dir, "gatehouse.toml")
	if err := os.WriteFile(file, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.p = serveTestUpstream(t, s.up, "--config", file)
	s.p.URL = "https://" + strings.TrimPrefix(s.p.URL, "http://")
	return s
}

// build runs go mod tidy and go build through proxy and returns go's output.
func (s *authServe) build(t *testing.T, proxy string, extra ...string) string {
	t.Helper()
	dir := project(t)
	env := testutil.GoEnv(t, append([]string{"GOPROXY=" + proxy, "GOSUMDB=" + s.up.GOSUMDB()}, extra...)...)
	return testutil.MustGo(t, dir, env, "mod", "tidy") + testutil.MustGo(t, dir, env, "build", "-o", os.DevNull, ".")
}

// download runs go mod download of one module and returns output and error.
func (s *authServe) download(t *testing.T, proxy, mod string, extra ...string) (string, error) {
	t.Helper()
	env := testutil.GoEnv(t, append([]string{"GOPROXY=" + proxy, "GOSUMDB=" + s.up.GOSUMDB()}, extra...)...)
	return testutil.Go(t, t.TempDir(), env, "mod", "download", mod)
}

// sidecar → gatehouse serve with token authentication: go builds through
// it; a wrong token is refused by gatehouse with its own message, which the
// sidecar passes through; the token appears in no log or output.
func TestSidecarToGatehouseWithToken(t *testing.T) {
	s := newAuthServe(t, time.Hour)
	sc := startSidecar(t, []string{"CI_TOKEN=" + s.token}, "--upstream", s.p.URL, "--ca-file", s.caFile, "--token-env", "CI_TOKEN")
	out := s.build(t, sc.URL)
	if !strings.Contains(s.p.Logs(), "identity=ci-build") {
		t.Errorf("gatehouse did not see identity ci-build:\n%s", s.p.Logs())
	}
	bad := startSidecar(t, []string{"CI_TOKEN=gh_not-the-token"}, "--upstream", s.p.URL, "--ca-file", s.caFile, "--token-env", "CI_TOKEN")
	out2, err := s.download(t, bad.URL, "example.com/greet@v1.0.0")
	if err == nil || !strings.Contains(out2, "401 Unauthorized") || !strings.Contains(out2, "gatehouse: authentication failed") {
		t.Errorf("wrong token:\n%s", out2)
	}
	sc.stop(t)
	assertNoSecret(t, s.token, map[string]string{"sidecar log": sc.Logs(), "gatehouse log": s.p.Logs(), "go output": out})
}

// sidecar → gatehouse serve with mutual TLS only: the client certificate
// is the identity; without it gatehouse asks for credentials.
func TestSidecarToGatehouseWithMutualTLS(t *testing.T) {
	s := newAuthServe(t, time.Hour)
	cert, key := s.ca.Client(t, "runner-1.ci.corp").WriteFiles(t, t.TempDir(), "client")
	sc := startSidecar(t, nil, "--upstream", s.p.URL, "--ca-file", s.caFile, "--client-cert", cert, "--client-key", key)
	s.build(t, sc.URL)
	if !strings.Contains(s.p.Logs(), "identity=runner-1.ci.corp") {
		t.Errorf("gatehouse did not see the certificate's identity:\n%s", s.p.Logs())
	}
	c2, k2 := testpki.NewCA(t, "stranger CA").Client(t, "runner-1.ci.corp").WriteFiles(t, t.TempDir(), "client")
	sc2 := startSidecar(t, nil, "--upstream", s.p.URL, "--ca-file", s.caFile, "--client-cert", c2, "--client-key", k2)
	if out, err := s.download(t, sc2.URL, "example.com/greet@v1.0.0"); err == nil {
		t.Errorf("a certificate from another CA was accepted:\n%s", out)
	}
}

// ID tokens end to end. The Cloud Run flow: a service-account key whose
// token_uri is the local issuer; Google's library mints ID tokens;
// gatehouse's OIDC authenticator verifies them against the issuer's JWKS.
// Then the GitHub Actions endpoint the same way.
func TestSidecarToGatehouseWithIDTokens(t *testing.T) {
	s := newAuthServe(t, time.Hour)
	const email = "builder@gatehouse-test.iam.gserviceaccount.com"
	key := s.iss.ServiceAccountKey(t, email)
	sc := startSidecar(t, nil, "--upstream", s.p.URL, "--ca-file", s.caFile, "--google-key", key, "--audience", gatehouseAudience)
	s.build(t, sc.URL)
	if !strings.Contains(s.p.Logs(), "identity="+email) {
		t.Errorf("gatehouse did not see the service account:\n%s", s.p.Logs())
	}
	if s.iss.Minted() != 1 {
		t.Errorf("minted %d hour-long ID tokens, want 1", s.iss.Minted())
	}
	// GitHub Actions' OIDC endpoint, as a CI job would use it.
	sc3 := startSidecar(t, []string{"ACTIONS_ID_TOKEN_REQUEST_URL=" + s.iss.URL + "/github?api-version=2.0", "ACTIONS_ID_TOKEN_REQUEST_TOKEN=" + s.iss.GitHubBearer},
		"--upstream", s.p.URL, "--ca-file", s.caFile, "--github-actions", "--audience", gatehouseAudience)
	if out, err := s.download(t, sc3.URL, "example.com/greet@v1.0.0"); err != nil || !s.p.LogsContain("identity=repo:corp/app:ref:refs/heads/main") {
		t.Errorf("github-actions: %v\n%s", err, out)
	}

	// An ID token for another audience is refused by gatehouse.
	sc2 := startSidecar(t, nil, "--upstream", s.p.URL, "--ca-file", s.caFile, "--google-key", key, "--audience", "https://elsewhere.test")
	if out, err := s.download(t, sc2.URL, "example.com/greet@v1.0.0"); err == nil || !strings.Contains(out, "401 Unauthorized") {
		t.Errorf("wrong audience:\n%s", out)
	}
}

// ID tokens that expire during a long download: the download under way
// completes, and the requests after it carry a fresh token that gatehouse
// accepts. A relay between sidecar and gatehouse holds each zip mid-stream
// for longer than a token lives.
func TestSidecarTokenRefreshAgainstGatehouse(t *testing.T) {
	s := newAuthServe(t, 3*time.Second)
	relay := newAuthGateTo(t, s.p.URL, s.ca.Pool(), nil)
	relay.mu.Lock()
	relay.slowZips = 4 * time.Second
	relay.mu.Unlock()
	sc := startSidecar(t, []string{"GCE_METADATA_HOST=" + s.iss.MetadataHost(), "SSL_CERT_FILE=" + s.caFile}, "--upstream", relay.URL, "--gcp-metadata", "--audience", gatehouseAudience)
	start := time.Now()
	if out, err := s.download(t, sc.URL, "example.com/greet@v1.0.0"); err != nil {
		t.Fatalf("long download: %v\n%s", err, out)
	}
	if d := time.Since(start); d < 4*time.Second {
		t.Fatalf("the download took %v: the slow zip did not happen", d)
	}
	relay.mu.Lock()
	relay.slowZips = 0
	relay.mu.Unlock()
	if out, err := s.download(t, sc.URL, "example.com/hello@v1.0.0"); err != nil {
		t.Fatalf("after expiry: %v\n%s", err, out)
	}
	if s.iss.Minted() < 2 || strings.Contains(s.p.Logs(), "status=401") {
		t.Errorf("minted %d tokens; gatehouse log:\n%s", s.iss.Minted(), s.p.Logs())
	}
}

// GOAUTH command mode against gatehouse over https: no sidecar, no netrc.
func TestGOAUTHAgainstGatehouse(t *testing.T) {
	s := newAuthServe(t, time.Hour)
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte(s.token+"\n"), 0o600)
	conf := filepath.Join(dir, "client.toml")
	os.WriteFile(conf, []byte(fmt.Sprintf("upstream = %q\ntoken_file = %q\n", s.p.URL, tokenFile)), 0o600)
	out := s.build(t, s.p.URL, "SSL_CERT_FILE="+s.caFile, "GOAUTH="+gatehouseBin+" goauth --config "+conf)
	if !strings.Contains(s.p.Logs(), "identity=ci-build") {
		t.Errorf("gatehouse did not see identity ci-build:\n%s", s.p.Logs())
	}
	assertNoSecret(t, s.token, map[string]string{"go output": out, "gatehouse log": s.p.Logs()})
	out2, err := s.download(t, s.p.URL, "example.com/greet@v1.0.0", "SSL_CERT_FILE="+s.caFile, "GOAUTH=off")
	if err == nil || !strings.Contains(out2, "authentication required") {
		t.Errorf("without GOAUTH:\n%s", out2)
	}

	// A token rotated behind go's back: go's first call gets a stale token,
	// gatehouse answers 401, go calls goauth again with the URL and the
	// response on stdin, and retries with the fresh token.
	sh := testutil.RequireCommand(t, "sh")
	script := filepath.Join(dir, "rotating-token")
	os.WriteFile(script, []byte("#!"+sh+"\nif [ -e "+dir+"/used ]; then echo "+s.token+"; else touch "+dir+"/used; echo stale-token; fi\n"), 0o755)
	conf2 := filepath.Join(dir, "rotating.toml")
	os.WriteFile(conf2, []byte(fmt.Sprintf("upstream = %q\ntoken_exec = %q\n", s.p.URL, script)), 0o600)
	if out, err := s.download(t, s.p.URL, "example.com/greet@v1.0.0", "SSL_CERT_FILE="+s.caFile, "GOAUTH="+gatehouseBin+" goauth --config "+conf2); err != nil {
		t.Fatalf("after a 401 go did not retry with goauth's fresh token: %v\n%s", err, out)
	}
	if !s.p.LogsContain("authentication refused") {
		t.Error("the stale token was never refused: the retry path was not exercised")
	}
}
