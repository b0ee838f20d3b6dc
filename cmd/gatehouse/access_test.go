package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testoidc"
	"github.com/gatehouse-dev/gatehouse/internal/testpki"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func TestTokenCreate(t *testing.T) {
	code, out, errOut := runCmd(t, nil, "token", "create", "--name", "ci-build", "--group", "build", "--group", "release")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	tok, snippet, _ := strings.Cut(out, "\n")
	if !regexp.MustCompile(`^gth_[0-9A-Za-z]{43}$`).MatchString(tok) {
		t.Fatalf("first line %q is not a token", tok)
	}
	if strings.Contains(snippet, tok) {
		t.Error("the config snippet holds the token itself")
	}
	// The snippet is valid config whose hash matches the token.
	var cfg config.Serve
	if _, err := toml.Decode(snippet, &cfg); err != nil {
		t.Fatalf("snippet does not parse: %v\n%s", err, snippet)
	}
	if len(cfg.Tokens) != 1 || cfg.Tokens[0].Name != "ci-build" || cfg.Tokens[0].Hash != auth.HashToken(tok) ||
		strings.Join(cfg.Tokens[0].Groups, ",") != "build,release" {
		t.Errorf("snippet: %+v", cfg.Tokens)
	}
	for _, bad := range [][]string{{"token", "create"}, {"token", "create", "--name", "a b"}, {"token", "create", "--name", "x", "--group", "a\nb"}, {"token"}, {"token", "list"}} {
		if code, _, errOut := runCmd(t, nil, bad...); code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
			t.Errorf("%q: code %d, %q", bad, code, errOut)
		}
	}
	for _, help := range [][]string{{"token", "create", "--help"}, {"audit", "verify", "--help"}, {"audit", "keygen", "--help"}, {"config", "print", "--help"}} {
		if code, out, _ := runCmd(t, nil, help...); code != 0 || !strings.Contains(out, "Usage: gatehouse "+help[0]+" "+help[1]) {
			t.Errorf("%q: %d %q", help, code, out)
		}
	}
}

func TestAuditVerifyCommand(t *testing.T) {
	name := filepath.Join(t.TempDir(), "audit.log")
	l, err := audit.Open(audit.Options{File: name})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		l.Write(audit.Record{Service: "proxy", Identity: "ci", Decision: "allow"})
	}
	l.Close()
	if code, out, errOut := runCmd(t, nil, "audit", "verify", name); code != 0 || !strings.Contains(out, ": 3 records in 1 files, seq 1..3") {
		t.Fatalf("verify: %d %q %q", code, out, errOut)
	}
	b, _ := os.ReadFile(name)
	os.WriteFile(name, []byte(strings.Replace(string(b), `"identity":"ci"`, `"identity":"root"`, 1)), 0o600)
	code, _, errOut := runCmd(t, nil, "audit", "verify", name)
	if code != 1 || !strings.Contains(errOut, name+":1: hash mismatch") {
		t.Errorf("edited: %d %q", code, errOut)
	}
	if code, _, _ := runCmd(t, nil, "audit", "verify"); code != 2 {
		t.Errorf("no files: %d", code)
	}
	if code, _, errOut := runCmd(t, nil, "audit", "verify", name+".missing"); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("missing file: %d %q", code, errOut)
	}
}

func TestConfigPrintRedacts(t *testing.T) {
	tok, hash, _ := auth.NewToken()
	cfgFile := filepath.Join(t.TempDir(), "g.toml")
	os.WriteFile(cfgFile, []byte(`
upstream = "https://alice:hunter2@proxy.corp.example|https://proxy.golang.org"
rate_limit = 5
private = ["corp.example.com"]
private_git_credential_helper = "!f() { echo password=helpersecret; }; f"
[[token]]
name = "ci"
hash = "`+hash+`"
groups = ["build"]
[[private_netrc]]
machine = "git.corp.example.com"
login = "bot"
password = "netrcsecret"
[[access]]
modules = ["corp.example.com/**"]
groups = ["build"]
`), 0o600)
	code, out, errOut := runCmd(t, map[string]string{"GATEHOUSE_RATE_BURST": "9"}, "config", "print", "--config", cfgFile, "--deny-status", "403")
	if code != 0 {
		t.Fatalf("code %d: %s", code, errOut)
	}
	for _, secret := range []string{hash, strings.TrimPrefix(hash, "sha256:"), "hunter2", "alice", tok, "netrcsecret", "helpersecret"} {
		if strings.Contains(out, secret) {
			t.Errorf("config print shows a secret %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{`upstream = "https://REDACTED@proxy.corp.example|https://proxy.golang.org"`, "rate_limit = 5", "rate_burst = 9", "deny_status = 403",
		`name = "ci"`, `modules = ["corp.example.com/**"]`, `shutdown_timeout = "30s"`, `machine = "git.corp.example.com"`} {
		if !strings.Contains(out, want) {
			t.Errorf("config print lacks %q:\n%s", want, out)
		}
	}
}

func TestServeRefusesExposureWithoutAuth(t *testing.T) {
	code, _, errOut := runCmd(t, nil, "serve", "--listen", "0.0.0.0:3000", "--data", t.TempDir())
	if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, "refusing to serve 0.0.0.0:3000 with no authentication") {
		t.Fatalf("code %d: %q", code, errOut)
	}
	cfg := config.DefaultServe()
	for _, tt := range []struct {
		listen    string
		anonymous bool
		tokens    bool
		ok        bool
	}{
		{"127.0.0.1:3000", false, false, true},
		{"[::1]:3000", false, false, true},
		{":3000", false, false, false},
		{":3000", true, false, true},
		{"10.0.0.1:3000", false, true, true},
	} {
		c := *cfg
		c.Listen, c.AllowAnonymous = config.String(tt.listen), config.Bool(tt.anonymous)
		if tt.tokens {
			c.Tokens = []config.Token{{Name: "x", Hash: "sha256:" + strings.Repeat("0", 64)}}
		}
		if err := checkExposure(&c); (err == nil) != tt.ok {
			t.Errorf("%+v: %v", tt, err)
		}
	}
}

func TestServeAccessConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ file, want string }{
		{"tls_cert = \"x\"\n", "tls-cert and tls-key go together"},
		{"client_ca = \"x\"\n", "mutual TLS needs tls-cert"},
		{"deny_status = 500\n", "500 is not 404 or 403"},
		{"[[token]]\nname = \"a\"\nhash = \"abc\"\n", "sha256:<64 hex digits>"},
		{"[[oidc]]\nissuer = \"https://x\"\n", "needs issuer and audience"},
		{"[[access]]\nmodules = [\"x\"]\n", "needs modules and groups"},
	} {
		f := filepath.Join(dir, "c.toml")
		os.WriteFile(f, []byte(tt.file), 0o600)
		code, _, errOut := runCmd(t, nil, "serve", "--config", f, "--data", dir)
		if code != 2 || !strings.Contains(errOut, tt.want) {
			t.Errorf("%q: code %d, %q", tt.file, code, errOut)
		}
	}
}

// serve writes each audit line to the file and, with --audit-stdout, the
// same line to stdout (the log goes to stderr).
func TestServeAuditToFileAndStdout(t *testing.T) {
	up := testproxy.New(t)
	auditFile := filepath.Join(t.TempDir(), "audit.log")
	var stdout, stderr testutil.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		done <- runMain(ctx, &cmdEnv{stdin: strings.NewReader(""), stdout: &stdout, stderr: &stderr, getenv: func(string) string { return "" }},
			[]string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--upstream", up.URL, "--sumdb", up.GOSUMDB(),
				"--audit-file", auditFile, "--audit-stdout"})
	}()
	re := regexp.MustCompile(`msg="gatehouse serving" listen=(\S+)`)
	var addr string
	for deadline := time.Now().Add(10 * time.Second); addr == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if m := re.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		cancel()
		t.Fatalf("serve did not start:\n%s", stderr.String())
	}
	resp, err := http.Get("http://" + addr + "/example.com/hello/@v/list")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exited %d:\n%s", code, stderr.String())
	}
	file, _ := os.ReadFile(auditFile)
	if string(file) != stdout.String() || !strings.Contains(string(file), `"kind":"list"`) || !strings.Contains(string(file), `"identity":"anonymous"`) {
		t.Errorf("audit file:\n%s\nstdout:\n%s", file, stdout.String())
	}
	if strings.Contains(stderr.String(), `"kind":"list"`) {
		t.Error("audit lines in the server log")
	}
}

// A reload keeps the listener serve started with, so the exposure check
// must judge the new credentials against that address, not against the
// listen key of the new file: changing listen to loopback in the file
// while dropping every credential would otherwise open the running
// 0.0.0.0 listener to anyone.
func TestReloadRefusesExposureOfTheRunningListener(t *testing.T) {
	cfg := config.DefaultServe()
	cfg.Listen = "0.0.0.0:3000"
	cfg.Tokens = []config.Token{{Name: "x", Hash: "sha256:" + strings.Repeat("0", 64)}}
	log := slog.New(slog.DiscardHandler)
	acc, err := buildAccess(context.Background(), cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	next := config.DefaultServe()
	next.Listen = "127.0.0.1:3000" // restart-only: the running listener stays on 0.0.0.0
	err = acc.Reload(context.Background(), next, log)
	if err == nil || !strings.Contains(err.Error(), "0.0.0.0:3000") {
		t.Fatalf("reload without authentication on the running 0.0.0.0 listener: %v, want refused naming 0.0.0.0:3000", err)
	}
	// With a credential, or anonymous asked for, the same reload is fine.
	next.AllowAnonymous = true
	if err := acc.Reload(context.Background(), next, log); err != nil {
		t.Fatalf("reload with allow_anonymous: %v", err)
	}
}

// A reload while an OIDC issuer is down (say, to revoke a leaked static
// token during an outage) must not cut off OIDC clients: unchanged
// [[oidc]] entries keep their discovered keys and verified tokens.
func TestReloadKeepsOIDCIssuersThatDidNotChange(t *testing.T) {
	is := testoidc.New(t)
	cfg := config.DefaultServe()
	cfg.OIDC = []config.OIDC{{Issuer: is.URL, Audience: "gatehouse", CAFile: is.CAFile}}
	log := slog.New(slog.DiscardHandler)
	acc, err := buildAccess(t.Context(), cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	h := acc.Middleware[0](http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	status := func(token string) int {
		req := httptest.NewRequest("GET", "/example.com/hello/@v/list", nil)
		req.RemoteAddr = "127.0.0.1:1234"
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	seen := is.Mint(t, is.Claims("ci", "gatehouse"))
	if st := status(seen); st != 200 {
		t.Fatalf("before the reload: %d", st)
	}
	is.Close()
	next := config.DefaultServe()
	next.OIDC = cfg.OIDC
	next.Tokens = []config.Token{{Name: "x", Hash: "sha256:" + strings.Repeat("0", 64)}}
	if err := acc.Reload(t.Context(), next, log); err != nil {
		t.Fatal(err)
	}
	if st := status(seen); st != 200 {
		t.Errorf("a token verified before the reload, issuer down: %d, want 200", st)
	}
	if st := status(is.Mint(t, is.Claims("ci2", "gatehouse"))); st != 200 {
		t.Errorf("a new token signed with a key fetched before the reload, issuer down: %d, want 200", st)
	}
	// A changed entry is a new issuer configuration: it must be fetched
	// afresh, and with the issuer down its tokens fail.
	next.OIDC = []config.OIDC{{Issuer: is.URL, Audience: "gatehouse", CAFile: is.CAFile, Groups: []string{"more"}}}
	if err := acc.Reload(t.Context(), next, log); err != nil {
		t.Fatal(err)
	}
	if st := status(seen); st == 200 {
		t.Errorf("a changed [[oidc]] entry kept the old verification")
	}
}

// Whether client certificates are identities follows the listener as it
// started: a reload whose file drops client_ca (restart-only) keeps the
// certificate identities working while the running TLS still asks for them.
func TestReloadKeepsCertificateIdentitiesOfTheRunningListener(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "reload CA")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	cfg := config.DefaultServe()
	cfg.TLSCert, cfg.TLSKey = config.String(certFile), config.String(keyFile)
	cfg.ClientCA = config.String(ca.WriteCA(t, dir, "ca.pem"))
	cfg.ClientCerts = []config.ClientCert{{Match: "runner-1", Groups: []string{"build"}}}
	log := slog.New(slog.DiscardHandler)
	acc, err := buildAccess(t.Context(), cfg, log, nil)
	if err != nil {
		t.Fatal(err)
	}
	var who *auth.Identity
	h := acc.Middleware[0](http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { who = auth.FromContext(r.Context()) }))
	client := ca.Client(t, "runner-1").TLS(t)
	leaf, err := x509.ParseCertificate(client.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	identity := func() string {
		who = nil
		req := httptest.NewRequest("GET", "/example.com/hello/@v/list", nil)
		req.RemoteAddr = "127.0.0.1:1234"
		req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf}, VerifiedChains: [][]*x509.Certificate{{leaf}}}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if who == nil {
			return fmt.Sprint(rec.Code)
		}
		return who.Name + "/" + strings.Join(who.Groups, ",")
	}
	if got := identity(); got != "runner-1/build" {
		t.Fatalf("before the reload: %s", got)
	}
	next := config.DefaultServe()
	next.Tokens = cfg.Tokens
	next.AllowAnonymous = true
	if err := acc.Reload(t.Context(), next, log); err != nil {
		t.Fatal(err)
	}
	if got := identity(); !strings.HasPrefix(got, "runner-1/") {
		t.Errorf("after a reload without client_ca, the running mTLS listener's client is %s", got)
	}
}
