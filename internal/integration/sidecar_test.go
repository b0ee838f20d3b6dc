package integration

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// authGate stands in for the authentication of gatehouse serve where a
// test needs to see exactly what the sidecar sent: it checks each
// request's Authorization header with check, records it, and forwards what
// passes to backend. With check nil it is a plain relay that keeps the
// header (for a real gatehouse behind it) and can slow zips down.
type authGate struct {
	URL   string
	check func(authz string) bool

	mu       sync.Mutex
	seen     []string
	refused  int
	slowZips time.Duration // hold each .zip body this long mid-stream
}

func newAuthGate(t *testing.T, backend string, check func(string) bool) *authGate {
	t.Helper()
	return newAuthGateTo(t, backend, nil, check)
}

// newAuthGateTo is newAuthGate in front of an https backend whose
// certificate roots are given.
func newAuthGateTo(t *testing.T, backend string, roots *x509.CertPool, check func(string) bool) *authGate {
	t.Helper()
	g := &authGate{check: check}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: roots}
	target, _ := url.Parse(backend)
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			if check != nil {
				pr.Out.Header.Del("Authorization")
			}
		},
		ModifyResponse: func(resp *http.Response) error {
			g.mu.Lock()
			d := g.slowZips
			g.mu.Unlock()
			if d > 0 && strings.HasSuffix(resp.Request.URL.Path, ".zip") {
				resp.Body = &slowBody{ReadCloser: resp.Body, pause: d}
			}
			return nil
		},
		FlushInterval: -1,
		Transport:     tr,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		authz := r.Header.Get("Authorization")
		ok := g.check == nil || g.check(authz)
		g.mu.Lock()
		g.seen = append(g.seen, authz)
		if !ok {
			g.refused++
		}
		g.mu.Unlock()
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, "gatehouse: authentication required\n")
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	g.URL = srv.URL
	return g
}

func (g *authGate) stats() (seen []string, refused int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.seen...), g.refused
}

// slowBody pauses once, after the first read, so a download outlives a
// short-lived token.
type slowBody struct {
	io.ReadCloser
	pause  time.Duration
	paused bool
}

func (b *slowBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if !b.paused && n > 0 {
		b.paused = true
		time.Sleep(b.pause)
	}
	return n, err
}

// startSidecar runs gatehouse sidecar on a free loopback port.
func startSidecar(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startProc(t, "gatehouse sidecar serving", env, append([]string{"sidecar", "--listen", "127.0.0.1:0", "--log-level", "debug"}, args...)...)
}

// assertNoSecret fails if any of the texts holds secret.
func assertNoSecret(t *testing.T, secret string, texts map[string]string) {
	t.Helper()
	for name, s := range texts {
		if strings.Contains(s, secret) {
			t.Errorf("the token appears in %s", name)
		}
	}
}

// The real go command builds through sidecar → (authentication) →
// gatehouse with a token from a file; the token never shows in GOPROXY,
// go's output or the sidecar's log, and a token the local client sends
// itself is dropped.
func TestSidecarWithTokenFile(t *testing.T) {
	up := testproxy.New(t)
	gh := serveTestUpstream(t, up)
	const token = "gh-tok-4f9d2c1e8b7a6d5c"
	gate := newAuthGate(t, gh.URL, func(a string) bool { return a == "Bearer "+token })
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte(token+"\n"), 0o600)
	sc := startSidecar(t, nil, "--upstream", gate.URL, "--token-file", tokenFile)

	if !strings.Contains(sc.Logs(), "token_source=file") || !strings.Contains(sc.Logs(), "upstream="+gate.URL) || strings.Contains(sc.Logs(), "readable by other users") {
		t.Errorf("start line lacks upstream or token source:\n%s", sc.Logs())
	}
	dir := project(t)
	env := testutil.GoEnv(t, "GOPROXY="+sc.URL, "GOSUMDB="+up.GOSUMDB())
	out1 := testutil.MustGo(t, dir, env, "mod", "tidy")
	out2 := testutil.MustGo(t, dir, env, "build", "-o", os.DevNull, ".")
	goenv := testutil.MustGo(t, dir, env, "env")
	seen, refused := gate.stats()
	if refused != 0 || len(seen) < 5 {
		t.Errorf("gate saw %d requests, refused %d", len(seen), refused)
	}
	// The sumdb traffic went through the sidecar too.
	if !gh.LogsContain("path=/sumdb/" + testproxy.SumDBName + "/lookup/") {
		t.Error("checksum database not reached through the sidecar")
	}

	// A local client's own Authorization is replaced, not forwarded.
	resp, body := get(t, sc.URL+"/example.com/hello/@v/list", "Authorization", "Bearer local-attacker")
	if resp.StatusCode != 200 || !strings.Contains(body, "v1.0.0") {
		t.Errorf("with a client Authorization: %d %q", resp.StatusCode, body)
	}
	if seen, _ := gate.stats(); seen[len(seen)-1] != "Bearer "+token {
		t.Errorf("gate saw %q", seen[len(seen)-1])
	}
	// Without the sidecar the same request is refused: the gate is real.
	if resp, _ := get(t, gate.URL+"/example.com/hello/@v/list"); resp.StatusCode != 401 {
		t.Errorf("direct without token: %d", resp.StatusCode)
	}
	resp, body = get(t, sc.URL+"/healthz")
	if resp.StatusCode != 200 || body != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	if !sc.LogsContain("msg=forwarded") {
		t.Error("the debug log has no request lines to search")
	}
	sc.stop(t)
	assertNoSecret(t, token, map[string]string{"sidecar log": sc.Logs(), "go output": out1 + out2, "go env": goenv})
}

// When the token source fails, go shows the sidecar's one-line 502.
func TestSidecarTokenSourceFailure(t *testing.T) {
	up := testproxy.New(t)
	gh := serveTestUpstream(t, up)
	gate := newAuthGate(t, gh.URL, func(string) bool { return true })
	sc := startSidecar(t, nil, "--upstream", gate.URL, "--token-exec", testutil.RequireCommand(t, "false"))
	dir := project(t)
	out, err := testutil.Go(t, dir, testutil.GoEnv(t, "GOPROXY="+sc.URL, "GOSUMDB="+up.GOSUMDB()), "mod", "download", "example.com/hello@v1.0.0")
	if err == nil || !strings.Contains(out, "502 Bad Gateway") || !strings.Contains(out, "gatehouse sidecar: token source exec failed") {
		t.Errorf("go output:\n%s", out)
	}
	if seen, _ := gate.stats(); len(seen) != 0 {
		t.Errorf("%d requests forwarded without a token", len(seen))
	}
	if !strings.Contains(sc.Logs(), "token source not working yet") {
		t.Errorf("no warning at start:\n%s", sc.Logs())
	}
}

// A token file others can read is named in a warning at start.
func TestSidecarWarnsAboutReadableTokenFile(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok"), 0o644)
	sc := startSidecar(t, nil, "--upstream", "http://127.0.0.1:1", "--token-file", tokenFile)
	if !strings.Contains(sc.Logs(), "secret file is readable by other users") {
		t.Errorf("no warning:\n%s", sc.Logs())
	}
}

// A plain-http upstream off this host gets the credentials in the clear:
// allowed (a compose network may be that), but said at start. Loopback is not.
func TestSidecarWarnsAboutPlainHTTPUpstream(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok"), 0o600)
	const warning = "upstream is plain http"
	// 192.0.2.1 (TEST-NET-1): nothing is sent to it, no request is made.
	sc := startSidecar(t, nil, "--upstream", "http://192.0.2.1:1", "--token-file", tokenFile)
	if !strings.Contains(sc.Logs(), warning) {
		t.Errorf("no warning for a plain-http upstream off this host:\n%s", sc.Logs())
	}
	sc = startSidecar(t, nil, "--upstream", "http://127.0.0.1:1", "--token-file", tokenFile)
	if strings.Contains(sc.Logs(), warning) {
		t.Errorf("warning for a loopback upstream:\n%s", sc.Logs())
	}
}
