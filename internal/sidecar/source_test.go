package sidecar

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

var ctx = context.Background()

// The cache refreshes a quarter of the lifetime (at most 5m) before
// expiry, keeps a still-valid token when a refresh fails, and fails once
// the token has expired.
func TestCachedRefreshesBeforeExpiry(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	fetches, fail := 0, false
	c := &cached{kind: "test", now: func() time.Time { return now }, fetch: func(context.Context) (string, time.Time, error) {
		fetches++
		if fail {
			return "", time.Time{}, errors.New("endpoint down")
		}
		return "tok" + string(rune('0'+fetches)), now.Add(time.Hour), nil
	}}
	get := func() (string, error) { return c.Token(ctx) }
	if tok, _ := get(); tok != "tok1" {
		t.Fatalf("first token %q", tok)
	}
	now = now.Add(54 * time.Minute) // 6m before expiry: still fresh
	if tok, _ := get(); tok != "tok1" || fetches != 1 {
		t.Fatalf("refreshed too early: %q after %d fetches", tok, fetches)
	}
	now = now.Add(2 * time.Minute) // 4m before expiry: due
	if tok, _ := get(); tok != "tok2" || fetches != 2 {
		t.Fatalf("not refreshed 4m before expiry: %q after %d fetches", tok, fetches)
	}
	fail = true
	now = now.Add(57 * time.Minute) // tok2 due (expires at +60m) but valid
	if tok, err := get(); tok != "tok2" || err != nil {
		t.Fatalf("valid token not kept during a failed refresh: %q %v", tok, err)
	}
	before := fetches
	get()
	if fetches != before {
		t.Fatal("a failed refresh is retried on every request")
	}
	now = now.Add(6 * time.Second)
	get()
	if fetches != before+1 {
		t.Fatal("a failed refresh is not retried after a few seconds")
	}
	now = now.Add(4 * time.Minute) // tok2 expired
	if _, err := get(); err == nil || !strings.Contains(err.Error(), "endpoint down") {
		t.Fatalf("expired token served: %v", err)
	}
}

// Short-lived tokens refresh at three quarters of their lifetime.
func TestCachedShortLifetime(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	n := 0
	c := &cached{now: func() time.Time { return now }, fetch: func(context.Context) (string, time.Time, error) {
		n++
		return "t", now.Add(8 * time.Second), nil
	}}
	c.Token(ctx)
	now = now.Add(5 * time.Second)
	c.Token(ctx)
	now = now.Add(2 * time.Second) // 7s: within the last quarter
	c.Token(ctx)
	if n != 2 {
		t.Fatalf("fetches = %d, want 2", n)
	}
}

func TestEnvSource(t *testing.T) {
	env := map[string]string{"GH_TOKEN": " s3cret \n"}
	s, err := NewEnvSource("GH_TOKEN", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := s.Token(ctx); tok != "s3cret" {
		t.Errorf("token %q", tok)
	}
	if _, err := NewEnvSource("MISSING", func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "MISSING") {
		t.Errorf("unset variable: %v", err)
	}
	env["BAD"] = "line1\r\nX-Injected: yes"
	if _, err := NewEnvSource("BAD", func(k string) string { return env[k] }); err == nil || strings.Contains(err.Error(), "Injected") {
		t.Errorf("header injection not refused, or token echoed: %v", err)
	}
}

func TestFileSourceRereadsOnChange(t *testing.T) {
	p := filepath.Join(t.TempDir(), "token")
	write := func(s string, mtime time.Time) {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(p, mtime, mtime)
	}
	base := time.Now().Add(-time.Hour)
	write("first-token\n", base)
	s, err := NewFileSource(p)
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := s.Token(ctx); tok != "first-token" {
		t.Fatalf("token %q", tok)
	}
	write("second-token\n", base.Add(time.Second))
	if tok, _ := s.Token(ctx); tok != "second-token" {
		t.Fatalf("after rewrite: %q", tok)
	}
	// Rotation by renaming a new file into place, as Kubernetes does.
	tmp := p + ".new"
	os.WriteFile(tmp, []byte("third-token"), 0o600)
	os.Chtimes(tmp, base.Add(2*time.Second), base.Add(2*time.Second))
	os.Rename(tmp, p)
	if tok, _ := s.Token(ctx); tok != "third-token" {
		t.Fatalf("after rename: %q", tok)
	}
	os.Remove(p)
	if _, err := s.Token(ctx); err == nil || strings.Contains(err.Error(), "third-token") {
		t.Fatalf("missing file: %v", err)
	}
	if _, err := NewFileSource(filepath.Join(t.TempDir(), "nope")); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("missing file at start: %v", err)
	}
	write("  \n", base)
	if _, err := NewFileSource(p); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty file: %v", err)
	}
}

func TestExecSourceCachesForTTL(t *testing.T) {
	sh := testutil.RequireCommand(t, "sh")
	dir := t.TempDir()
	script := filepath.Join(dir, "print-token")
	// Counts its runs; prints a secret to stderr that must not surface.
	os.WriteFile(script, []byte("#!"+sh+"\necho run >> "+dir+"/runs\necho stderr-secret-xyz >&2\necho exec-token-$(wc -l < "+dir+"/runs | tr -d ' ')\n"), 0o755)
	s, err := NewExecSource(script, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if tok, err := s.Token(ctx); tok != "exec-token-1" || err != nil {
			t.Fatalf("token %q %v", tok, err)
		}
	}
	s.(*cached).now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if tok, _ := s.Token(ctx); tok != "exec-token-2" {
		t.Fatalf("not rerun after ttl: %q", tok)
	}

	fail := filepath.Join(dir, "fail")
	os.WriteFile(fail, []byte("#!"+sh+"\necho stderr-secret-xyz >&2\necho stdout-secret-xyz\nexit 3\n"), 0o755)
	s, _ = NewExecSource(fail+" --flag", time.Hour)
	_, err = s.Token(ctx)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") || strings.Contains(err.Error(), "secret") {
		t.Fatalf("failing command: %v", err)
	}
	if _, err := NewExecSource("  ", 0); err == nil {
		t.Error("empty command accepted")
	}
}

// A JWT from the command is reused only until shortly before its exp.
func TestExecSourceHonoursJWTExpiry(t *testing.T) {
	iss := testutil.NewTokenIssuer(t, 40*time.Second)
	dir := t.TempDir()
	tok := iss.Mint(t, "someone", "aud")
	os.WriteFile(filepath.Join(dir, "tok"), []byte(tok), 0o600)
	s, _ := NewExecSource(testutil.RequireCommand(t, "cat")+" "+filepath.Join(dir, "tok"), time.Hour)
	s.Token(ctx)
	c := s.(*cached)
	if exp := jwtExpiry(tok); !c.expiry.Equal(exp) || c.refreshAt.After(exp.Add(-9*time.Second)) {
		t.Errorf("expiry %v refreshAt %v, want refresh ≥10s before %v", c.expiry, c.refreshAt, exp)
	}
}

func TestNewSourceChoosesOne(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{}, "no token source"},
		{Options{TokenFile: "a", TokenExec: "b"}, "token-file and token-exec"},
		{Options{GoogleKey: "k.json"}, "needs an audience"},
		{Options{GCPMetadata: true}, "needs an audience"},
		{Options{GitHubActions: true, Audience: "x", Getenv: func(string) string { return "" }}, "id-token: write"},
		{Options{GoogleKey: "/nonexistent/key.json", Audience: "x"}, "google-key /nonexistent/key.json"},
	} {
		_, err := NewSource(tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: %v, want one line with %q", tc.o, err, tc.want)
		}
	}
}

func TestGoogleKeySourceMintsIDTokens(t *testing.T) {
	iss := testutil.NewTokenIssuer(t, time.Hour)
	key := iss.ServiceAccountKey(t, "builder@gatehouse-test.iam.gserviceaccount.com")
	s, err := NewSource(Options{GoogleKey: key, Audience: "https://gatehouse.test"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	claims := unverifiedClaims(t, tok)
	if claims["aud"] != "https://gatehouse.test" || claims["sub"] != "builder@gatehouse-test.iam.gserviceaccount.com" || claims["iss"] != iss.URL {
		t.Errorf("claims %v", claims)
	}
	if tok2, _ := s.Token(ctx); tok2 != tok || iss.Minted() != 1 {
		t.Errorf("an hour-long token was not reused: minted %d", iss.Minted())
	}

	// A key the endpoint does not know is refused, and the error says so
	// on one line without leaking the key.
	other := testutil.NewTokenIssuer(t, time.Hour)
	stranger := other.ServiceAccountKey(t, "stranger@x.iam.gserviceaccount.com")
	data, _ := os.ReadFile(stranger)
	os.WriteFile(stranger, []byte(strings.ReplaceAll(string(data), other.URL, iss.URL)), 0o600)
	s, err = NewSource(Options{GoogleKey: stranger, Audience: "https://gatehouse.test"})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Token(ctx)
	if err == nil || strings.Contains(err.Error(), "\n") || strings.Contains(err.Error(), "PRIVATE KEY") {
		t.Fatalf("unknown key: %v", err)
	}

	// Only service-account keys: an external_account file names URLs the
	// library would fetch, so it is refused.
	ext := filepath.Join(t.TempDir(), "ext.json")
	os.WriteFile(ext, []byte(`{"type":"external_account","audience":"x","subject_token_type":"y","token_url":"http://127.0.0.1:1/","credential_source":{"file":"/etc/passwd"}}`), 0o600)
	if _, err := NewSource(Options{GoogleKey: ext, Audience: "x"}); err == nil || !strings.Contains(err.Error(), "only service_account") {
		t.Errorf("external_account credentials: %v", err)
	}
}

func TestMetadataSource(t *testing.T) {
	iss := testutil.NewTokenIssuer(t, time.Hour)
	t.Setenv("GCE_METADATA_HOST", iss.MetadataHost())
	s, err := NewSource(Options{GCPMetadata: true, Audience: "https://gatehouse.test"})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := unverifiedClaims(t, tok); c["aud"] != "https://gatehouse.test" {
		t.Errorf("claims %v", c)
	}
	s.Token(ctx)
	if iss.Minted() != 1 {
		t.Errorf("minted %d, want 1 (cached)", iss.Minted())
	}
}

func TestGitHubActionsSource(t *testing.T) {
	iss := testutil.NewTokenIssuer(t, time.Hour)
	env := map[string]string{
		"ACTIONS_ID_TOKEN_REQUEST_URL":   iss.URL + "/github?api-version=2.0",
		"ACTIONS_ID_TOKEN_REQUEST_TOKEN": iss.GitHubBearer,
	}
	s, err := NewSource(Options{GitHubActions: true, Audience: "https://gatehouse.test", Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c := unverifiedClaims(t, tok); c["aud"] != "https://gatehouse.test" || !strings.HasPrefix(c["sub"].(string), "repo:") {
		t.Errorf("claims %v", c)
	}
	env["ACTIONS_ID_TOKEN_REQUEST_TOKEN"] = "wrong-request-token"
	s, _ = NewSource(Options{GitHubActions: true, Audience: "a", Getenv: func(k string) string { return env[k] }})
	_, err = s.Token(ctx)
	if err == nil || !strings.Contains(err.Error(), "401") || strings.Contains(err.Error(), "wrong-request-token") {
		t.Errorf("bad request token: %v", err)
	}
}
