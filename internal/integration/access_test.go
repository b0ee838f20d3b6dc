package integration

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testoidc"
	"github.com/gatehouse-dev/gatehouse/internal/testpki"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// accessSetup is gatehouse over https with tokens, client certificates,
// an OIDC issuer and access rules, in front of the test upstream.
type accessSetup struct {
	up      *testproxy.Server
	p       *proc
	caFile  string
	ca      *testpki.CA
	clients *testpki.CA
	issuer  *testoidc.Issuer
	audit   string
	key     string            // the audit key file: the log is sealed with HMAC
	tokens  map[string]string // name → token
}

func newAccessSetup(t *testing.T) *accessSetup {
	dir := t.TempDir()
	s := &accessSetup{up: testproxy.New(t), tokens: map[string]string{}, issuer: testoidc.New(t)}
	s.ca = testpki.NewCA(t, "gatehouse test CA")
	s.caFile = s.ca.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := s.ca.Server(t).WriteFiles(t, dir, "server")
	s.clients = testpki.NewCA(t, "client CA")
	clientCA := s.clients.WriteCA(t, dir, "clients.pem")
	s.audit = filepath.Join(dir, "audit.log")

	// A supply-chain policy that refuses one version of the hidden module:
	// the access gate must answer before it, or the policy's 403 would
	// reveal the module to those who may not see it.
	policy := filepath.Join(dir, "policy.toml")
	if err := os.WriteFile(policy, []byte("[[rule]]\nname = \"incident\"\naction = \"deny\"\nreason = \"withdrawn\"\nmodule_versions = [\"example.com/greet@v1.0.0\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s.key = filepath.Join(dir, "audit.key")
	if out, err := exec.Command(gatehouseBin, "audit", "keygen", s.key).CombinedOutput(); err != nil || !strings.Contains(string(out), "audit_key_file = ") {
		t.Fatalf("audit keygen: %v\n%s", err, out)
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "tls_cert = %q\ntls_key = %q\nclient_ca = %q\naudit_file = %q\naudit_key_file = %q\npolicy = %q\n", certFile, keyFile, clientCA, s.audit, s.key, policy)
	// ci-build may fetch everything; web may not see example.com/greet,
	// which stands for a private module here.
	for _, tk := range []struct{ name, group string }{{"ci-build", "build"}, {"web", "web"}} {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[tk.name] = tok
		fmt.Fprintf(&cfg, "[[token]]\nname = %q\nhash = %q\ngroups = [%q]\n", tk.name, hash, tk.group)
	}
	fmt.Fprintf(&cfg, `
[[client_cert]]
match = "runner-1.ci.corp"
groups = ["build"]

[[oidc]]
issuer = %q
audience = "https://gatehouse.test"
ca_file = %q
identity_claim = "repository"
groups = ["build"]
[oidc.require]
repository_owner = "corp"

[[access]]
modules = ["example.com/greet/**"]
groups = ["build"]

[[access]]
modules = ["**"]
groups = ["*"]
`, s.issuer.URL, s.issuer.CAFile)
	cfgFile := filepath.Join(dir, "gatehouse.toml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	s.p = serveTestUpstream(t, s.up, "--config", cfgFile)
	s.p.URL = "https://" + strings.TrimPrefix(s.p.URL, "http://")
	return s
}

// goEnv is a go command environment that trusts the test CA and sends
// login/password from a netrc for 127.0.0.1 (empty password: no netrc).
func (s *accessSetup) goEnv(t *testing.T, login, password string) []string {
	netrc := filepath.Join(t.TempDir(), "netrc")
	content := ""
	if password != "" {
		// Go ≥ 1.24 matches the machine against host:port when the URL has a port.
		content = fmt.Sprintf("machine %s login %s password %s\n", strings.TrimPrefix(s.p.URL, "https://"), login, password)
	}
	if err := os.WriteFile(netrc, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return goEnv(t, s.p, s.up, "SSL_CERT_FILE="+s.caFile, "NETRC="+netrc)
}

func (s *accessSetup) client(t *testing.T, certs ...tls.Certificate) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(s.ca.Cert)
	return &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: certs}}}
}

func fetch(t *testing.T, c *http.Client, url string, header ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAccessControlWithGoCommand(t *testing.T) {
	s := newAccessSetup(t)
	dir := project(t)

	t.Run("netrc token builds the project", func(t *testing.T) {
		env := s.goEnv(t, "ci-build", s.tokens["ci-build"])
		testutil.MustGo(t, dir, env, "mod", "tidy")
		testutil.MustGo(t, dir, env, "mod", "download", "all")
		if out := testutil.MustGo(t, dir, env, "mod", "verify"); !strings.Contains(out, "all modules verified") {
			t.Fatalf("go mod verify: %s", out)
		}
	})

	t.Run("GOAUTH command sends a Bearer token", func(t *testing.T) {
		script := filepath.Join(t.TempDir(), "goauth.sh")
		body := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n\\nAuthorization: Bearer %%s\\n\\n' %q %q\n", s.p.URL, s.tokens["ci-build"])
		if err := os.WriteFile(script, []byte(body), 0o700); err != nil {
			t.Fatal(err)
		}
		env := append(s.goEnv(t, "", ""), "GOAUTH="+script)
		testutil.MustGo(t, t.TempDir(), env, "mod", "download", "example.com/greet@v1.1.0")
	})

	t.Run("no credentials", func(t *testing.T) {
		out, err := testutil.Go(t, t.TempDir(), s.goEnv(t, "", ""), "mod", "download", "-x", "example.com/hello@v1.0.0")
		if err == nil || !strings.Contains(out, "401 Unauthorized") || !strings.Contains(out, "authentication required") {
			t.Fatalf("go without credentials: err=%v\n%s", err, out)
		}
	})

	t.Run("wrong token", func(t *testing.T) {
		wrong := s.tokens["ci-build"][:20] + strings.Repeat("x", len(s.tokens["ci-build"])-20)
		out, err := testutil.Go(t, t.TempDir(), s.goEnv(t, "ci-build", wrong), "mod", "download", "example.com/hello@v1.0.0")
		if err == nil || !strings.Contains(out, "authentication failed") {
			t.Fatalf("go with a wrong token: err=%v\n%s", err, out)
		}
		if strings.Contains(s.p.Logs(), wrong) || strings.Contains(s.p.Logs(), s.tokens["ci-build"]) {
			t.Error("a token appears in the server log")
		}
	})

	t.Run("group without access learns nothing", func(t *testing.T) {
		env := s.goEnv(t, "web", s.tokens["web"])
		work := t.TempDir()
		// Public modules are fine for this group.
		testutil.MustGo(t, work, env, "mod", "download", "example.com/hello@v1.0.0")
		for _, args := range [][]string{
			{"mod", "download", "example.com/greet@v1.0.0"},
			{"mod", "download", "example.com/greet@latest"},
			{"list", "-m", "-versions", "example.com/greet"},
		} {
			out, err := testutil.Go(t, work, env, args...)
			if err == nil || strings.Contains(out, "v1.1.0") || strings.Contains(out, "v1.0.0 ") {
				t.Errorf("go %s as web: err=%v\n%s", strings.Join(args, " "), err, out)
			}
			// The server's URL is cut out first: its random port may contain "403".
			msg := strings.ReplaceAll(out, s.p.URL, "<gatehouse>")
			if strings.Contains(msg, "403") || strings.Contains(msg, "denied") || strings.Contains(msg, "access") {
				t.Errorf("go %s reveals a refusal rather than absence:\n%s", strings.Join(args, " "), msg)
			}
		}
		// The answers do not depend on whether the module exists: they are
		// the same for a module under the same rule that does not exist.
		c := s.client(t)
		for _, suffix := range []string{"/@v/list", "/@latest", "/@v/v1.0.0.info", "/@v/v1.0.0.zip"} {
			st, body := fetch(t, c, s.p.URL+"/example.com/greet"+suffix, "Authorization", "Bearer "+s.tokens["web"])
			stMissing, bodyMissing := fetch(t, c, s.p.URL+"/example.com/greet/nosuchmodule"+suffix, "Authorization", "Bearer "+s.tokens["web"])
			if st != 404 || stMissing != 404 || strings.ReplaceAll(bodyMissing, "greet/nosuchmodule", "greet") != body {
				t.Errorf("web %s: %d %q; a missing module: %d %q", suffix, st, body, stMissing, bodyMissing)
			}
			// ci-build sees the module, and so the policy's refusal of v1.0.0.
			st, body2 := fetch(t, c, s.p.URL+"/example.com/greet"+suffix, "Authorization", "Bearer "+s.tokens["ci-build"])
			if strings.Contains(suffix, "v1.0.0") {
				if st != 403 || !strings.Contains(body2, "incident") {
					t.Errorf("ci-build %s: %d %q, want the policy's 403", suffix, st, body2)
				}
			} else if st != 200 || body2 == body {
				t.Errorf("ci-build %s: %d", suffix, st)
			}
		}
	})

	t.Run("checksum database lookups follow the access rules", func(t *testing.T) {
		name, _, _ := strings.Cut(s.up.GOSUMDB(), "+")
		lookup := s.p.URL + "/sumdb/" + name + "/lookup/example.com/greet@v1.1.0"
		c := s.client(t)
		if st, body := fetch(t, c, lookup, "Authorization", "Bearer "+s.tokens["web"]); st != 404 || strings.Contains(body, "h1:") {
			t.Errorf("web's lookup of a hidden module: %d %q", st, body)
		}
		if st, body := fetch(t, c, lookup, "Authorization", "Bearer "+s.tokens["ci-build"]); st != 200 || !strings.Contains(body, "example.com/greet v1.1.0 h1:") {
			t.Errorf("ci-build's lookup: %d %q", st, body)
		}
		if st, _ := fetch(t, c, s.p.URL+"/sumdb/"+name+"/tile/8/data/000", "Authorization", "Bearer "+s.tokens["ci-build"]); st != 404 {
			t.Errorf("data tile: %d, want 404", st)
		}
	})

	t.Run("OIDC ID token in netrc", func(t *testing.T) {
		claims := s.issuer.Claims("repo:corp/app:ref:refs/heads/main", "https://gatehouse.test")
		claims["repository"], claims["repository_owner"] = "corp/app", "corp"
		env := s.goEnv(t, "oidc", s.issuer.Mint(t, claims))
		testutil.MustGo(t, t.TempDir(), env, "mod", "download", "example.com/greet@v1.1.0")

		for name, edit := range map[string]func(map[string]any){
			"expired":        func(c map[string]any) { c["exp"] = time.Now().Add(-time.Minute).Unix() },
			"wrong audience": func(c map[string]any) { c["aud"] = "https://other" },
			"other owner":    func(c map[string]any) { c["repository_owner"] = "evil" },
		} {
			bad := map[string]any{}
			for k, v := range claims {
				bad[k] = v
			}
			edit(bad)
			out, err := testutil.Go(t, t.TempDir(), s.goEnv(t, "oidc", s.issuer.Mint(t, bad)), "mod", "download", "example.com/hello@v1.0.0")
			if err == nil || !strings.Contains(out, "authentication failed") {
				t.Errorf("%s ID token: err=%v\n%s", name, err, out)
			}
		}
	})

	t.Run("mutual TLS", func(t *testing.T) {
		url := s.p.URL + "/example.com/greet/@v/list"
		if st, body := fetch(t, s.client(t, s.clients.Client(t, "runner-1", "runner-1.ci.corp").TLS(t)), url); st != 200 || !strings.Contains(body, "v1.1.0") {
			t.Errorf("runner-1 certificate: %d %q", st, body)
		}
		// A valid certificate of an unlisted client: authenticated, but
		// not in the build group.
		if st, _ := fetch(t, s.client(t, s.clients.Client(t, "laptop").TLS(t)), url); st != 404 {
			t.Errorf("unlisted certificate: %d, want 404", st)
		}
		if st, _ := fetch(t, s.client(t), url); st != 401 {
			t.Errorf("no certificate: %d, want 401", st)
		}
		// A certificate from another CA fails the handshake.
		rogue := testpki.NewCA(t, "rogue").Client(t, "runner-1", "runner-1.ci.corp").TLS(t)
		c := s.client(t)
		c.Transport.(*http.Transport).TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &rogue, nil }
		if resp, err := c.Get(url); err == nil {
			resp.Body.Close()
			t.Errorf("rogue certificate: %s", resp.Status)
		}
		// Plain HTTP is not served.
		if resp, err := http.Get("http://" + strings.TrimPrefix(url, "https://")); err == nil {
			if resp.StatusCode == 200 {
				t.Errorf("plain http served: %s", resp.Status)
			}
			resp.Body.Close()
		}
	})

	// The audit log holds a verified, complete record of all of the above.
	s.p.stop(t)
	verify := exec.Command(gatehouseBin, "audit", "verify", "--key-file", s.key, s.audit)
	out, err := verify.CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "ok: ") || strings.Contains(string(out), "without the key") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	// Sealed with the key: without it, verification asks for it.
	if out, err := exec.Command(gatehouseBin, "audit", "verify", s.audit).CombinedOutput(); err == nil || !strings.Contains(string(out), "sealed with a key") {
		t.Errorf("audit verify without the key: %v\n%s", err, out)
	}
	recs := readAudit(t, s.audit)
	var sawAllowZip, sawHidden, saw401, sawMTLS, sawOIDC, sawBearer bool
	for _, r := range recs {
		switch {
		case r["identity"] == "ci-build" && r["auth_method"] == "token":
			sawBearer = true
		case r["identity"] == "ci-build" && r["auth_method"] == "basic" && r["kind"] == "zip" && r["decision"] == "allow":
			sawAllowZip = r["h1"] != nil && r["source"] != nil && r["client"] == "127.0.0.1" && r["bytes"] != nil && r["version"] != nil
		case r["identity"] == "web" && r["module"] == "example.com/greet" && r["decision"] == "deny":
			sawHidden = r["reason"] == "no access to module" && r["status"] == float64(404)
		case r["decision"] == "deny" && r["status"] == float64(401):
			saw401 = true
		case r["auth_method"] == "mtls" && r["identity"] == "runner-1.ci.corp":
			sawMTLS = true
		case r["auth_method"] == "oidc" && r["identity"] == "corp/app":
			sawOIDC = true
		}
		for _, f := range []string{"time", "request_id", "seq", "hash", "decision"} {
			if r[f] == nil {
				t.Errorf("record lacks %s: %v", f, r)
			}
		}
		if h, _ := r["hash"].(string); !strings.HasPrefix(h, "hmac-sha256:") {
			t.Errorf("record not sealed with the key: %v", r)
		}
	}
	if !sawAllowZip || !sawHidden || !saw401 || !sawMTLS || !sawOIDC || !sawBearer {
		t.Errorf("audit log lacks records: allowed zip with hash %v, hidden module %v, 401 %v, mtls %v, oidc %v, bearer %v", sawAllowZip, sawHidden, saw401, sawMTLS, sawOIDC, sawBearer)
	}
	raw, _ := os.ReadFile(s.audit)
	for _, tok := range s.tokens {
		if strings.Contains(string(raw), tok) {
			t.Error("a token appears in the audit log")
		}
	}

	// One edited line: verify fails and names it.
	lines := strings.SplitAfter(string(raw), "\n")
	n := -1
	for i, l := range lines {
		if strings.Contains(l, `"identity":"web"`) && strings.Contains(l, `"decision":"deny"`) {
			lines[i], n = strings.Replace(l, `"decision":"deny"`, `"decision":"allow"`, 1), i+1
			break
		}
	}
	os.WriteFile(s.audit, []byte(strings.Join(lines, "")), 0o600)
	out, err = exec.Command(gatehouseBin, "audit", "verify", "--key-file", s.key, s.audit).CombinedOutput()
	if err == nil || !strings.Contains(string(out), fmt.Sprintf("%s:%d: seal mismatch", s.audit, n)) {
		t.Errorf("audit verify of an edited log: %v\n%s", err, out)
	}
}

func readAudit(t *testing.T, name string) []map[string]any {
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var recs []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, r)
	}
	return recs
}

// serve will not expose modules to the network without authentication.
func TestServeRefusesUnauthenticatedExposure(t *testing.T) {
	out, err := exec.Command(gatehouseBin, "serve", "--listen", "0.0.0.0:0", "--data", t.TempDir()).CombinedOutput()
	if err == nil || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 || !strings.Contains(string(out), "--allow-anonymous") {
		t.Fatalf("serve on 0.0.0.0 with no authentication: %v\n%s", err, out)
	}
}

// The network allowlist, trusted proxies and rate limits of the real binary.
func TestNetworkAllowlistAndRateLimit(t *testing.T) {
	up := testproxy.New(t)
	// Loopback is not allowed: the connection is dropped before HTTP.
	p := serveTestUpstream(t, up, "--allowed-networks", "10.0.0.0/8")
	if resp, err := http.Get(p.URL + "/example.com/hello/@v/list"); err == nil {
		resp.Body.Close()
		t.Errorf("connection from outside allowed_networks answered: %s", resp.Status)
	}

	// Loopback is a trusted proxy speaking for clients; one client may
	// make 2 requests at once, then 1 a second.
	p = serveTestUpstream(t, up, "--allowed-networks", "198.51.100.0/24", "--trusted-proxies", "127.0.0.1",
		"--rate-limit", "1", "--rate-burst", "2")
	url := p.URL + "/example.com/hello/@v/list"
	if resp, body := get(t, url); resp.StatusCode != 403 || !strings.Contains(body, "127.0.0.1 is not allowed") {
		t.Errorf("proxy's own request: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, url, "X-Forwarded-For", "10.9.9.9, 203.0.113.9"); resp.StatusCode != 403 || !strings.Contains(body, "203.0.113.9") {
		t.Errorf("client outside the allowlist: %d %q", resp.StatusCode, body)
	}
	for i := 0; i < 2; i++ {
		if resp, _ := get(t, url, "X-Forwarded-For", "198.51.100.7"); resp.StatusCode != 200 {
			t.Fatalf("request %d from an allowed client: %d", i, resp.StatusCode)
		}
	}
	resp, body := get(t, url, "X-Forwarded-For", "198.51.100.7")
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" || !strings.HasPrefix(body, "gatehouse: too many requests") {
		t.Errorf("over the rate: %d %q %q", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Another client has its own bucket.
	if resp, _ := get(t, url, "X-Forwarded-For", "198.51.100.8"); resp.StatusCode != 200 {
		t.Errorf("another client: %d", resp.StatusCode)
	}
}
