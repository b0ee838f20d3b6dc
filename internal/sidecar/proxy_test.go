package sidecar

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testpki"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

const secretToken = "sk-test-0123456789-do-not-log"

type staticSource string

func (s staticSource) Token(context.Context) (string, error) { return string(s), nil }
func (s staticSource) Kind() string                          { return "static" }

type failingSource struct{}

func (failingSource) Token(context.Context) (string, error) {
	return "", errors.New("exec: print-token failed: exit status 1")
}
func (failingSource) Kind() string { return "exec" }

// startProxy runs the sidecar handler on loopback in front of upstream and
// returns its URL and everything it logged.
func startProxy(t *testing.T, upstream string, src Source, tr http.RoundTripper) (string, *testutil.Buffer) {
	t.Helper()
	u, _ := url.Parse(upstream)
	logs := &testutil.Buffer{}
	if tr == nil {
		tr = http.DefaultTransport.(*http.Transport).Clone()
	}
	h := NewProxy(ProxyOptions{Upstream: u, Source: src, Transport: tr,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL, logs
}

func TestProxyInjectsTokenAndStripsClientCredentials(t *testing.T) {
	var got http.Header
	var gotPath string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotPath = r.Header.Clone(), r.URL.Path
		io.WriteString(w, "v1.0.0\n")
	}))
	defer up.Close()
	purl, logs := startProxy(t, up.URL+"/prefix", staticSource(secretToken), nil)
	req, _ := http.NewRequest("GET", purl+"/example.com/hello/@v/list", nil)
	req.Header.Set("Authorization", "Bearer attacker-chosen")
	req.Header.Set("Cookie", "session=abc")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "v1.0.0\n" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if got.Values("Authorization")[0] != "Bearer "+secretToken || len(got.Values("Authorization")) != 1 {
		t.Errorf("upstream saw Authorization %q", got.Values("Authorization"))
	}
	if got.Get("Cookie") != "" {
		t.Error("client cookie forwarded")
	}
	if gotPath != "/prefix/example.com/hello/@v/list" {
		t.Errorf("upstream path %q", gotPath)
	}
	if strings.Contains(logs.String(), secretToken) {
		t.Errorf("token in log:\n%s", logs)
	}
}

func TestProxyBasicAuth(t *testing.T) {
	var user, pass string
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { user, pass, _ = r.BasicAuth() }))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	h := NewProxy(ProxyOptions{Upstream: u, Source: staticSource(secretToken), BasicUser: "ci", Transport: http.DefaultTransport, Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://127.0.0.1/x/@v/list", nil))
	if user != "ci" || pass != secretToken {
		t.Errorf("basic auth %q %q", user, pass)
	}
}

// The upstream's status, content type and error body reach the client
// unchanged, so go shows gatehouse's own explanation.
func TestProxyPassesErrorsThrough(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("WWW-Authenticate", `Bearer realm="gatehouse"`)
		w.WriteHeader(http.StatusForbidden)
		io.WriteString(w, "gatehouse: ci-build may not fetch corp.example.com/secret\n")
	}))
	defer up.Close()
	purl, _ := startProxy(t, up.URL, staticSource(secretToken), nil)
	resp, err := http.Get(purl + "/corp.example.com/secret/@v/list")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || string(body) != "gatehouse: ci-build may not fetch corp.example.com/secret\n" || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
}

// A zip streams: the client reads the first bytes while the upstream is
// still writing, and the sidecar's memory does not hold the whole body.
func TestProxyStreams(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/zip")
		w.Write(bytes.Repeat([]byte("a"), 64<<10))
		w.(http.Flusher).Flush()
		<-release
		w.Write([]byte("end"))
	}))
	defer up.Close()
	defer close(release)
	purl, _ := startProxy(t, up.URL, staticSource(secretToken), nil)
	resp, err := http.Get(purl + "/example.com/hello/@v/v1.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	first := make([]byte, 64<<10)
	done := make(chan error, 1)
	go func() { _, err := io.ReadFull(resp.Body, first); done <- err }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("first 64 KiB did not arrive while the upstream was still sending: the proxy buffers")
	}
}

// Many requests reuse one upstream connection.
func TestProxyKeepsConnectionsAlive(t *testing.T) {
	var conns atomic.Int32
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	up.Config.ConnState = func(c net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	up.Start()
	defer up.Close()
	purl, _ := startProxy(t, up.URL, staticSource(secretToken), nil)
	for range 20 {
		resp, err := http.Get(purl + "/m/@v/list")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("20 sequential requests opened %d upstream connections, want 1", n)
	}
}

func TestProxyTokenFailureIs502WithoutSecrets(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer up.Close()
	purl, _ := startProxy(t, up.URL, failingSource{}, nil)
	resp, err := http.Get(purl + "/m/@v/list")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.HasPrefix(string(body), "gatehouse sidecar: token source exec failed: exec: print-token failed") ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
	if hits.Load() != 0 {
		t.Error("request forwarded without a token")
	}
}

func TestProxyUpstreamDownIs502(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	purl, _ := startProxy(t, "http://"+addr, staticSource(secretToken), nil)
	resp, err := http.Get(purl + "/m/@v/list")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 502 || !strings.Contains(string(body), "cannot reach the upstream") || strings.Count(string(body), "\n") != 1 {
		t.Errorf("%d %q", resp.StatusCode, body)
	}
}

// DNS rebinding: a page served from evil.example resolves its name to
// 127.0.0.1 and makes the browser fetch through the sidecar. The Host
// header gives it away.
func TestProxyRefusesForeignHost(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer up.Close()
	purl, _ := startProxy(t, up.URL, staticSource(secretToken), nil)
	for host, want := range map[string]int{"evil.example:9090": 403, "127.0.0.1.evil.example": 403, "localhost:9090": 200, "[::1]:9090": 200, "127.0.0.1": 200} {
		req, _ := http.NewRequest("GET", purl+"/m/@v/list", nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("Host %s: %d, want %d", host, resp.StatusCode, want)
		}
	}
	if hits.Load() != 3 {
		t.Errorf("upstream hits %d, want 3", hits.Load())
	}
	u, _ := url.Parse(up.URL)
	h := NewProxy(ProxyOptions{Upstream: u, Source: staticSource(secretToken), AllowRemote: true, Transport: http.DefaultTransport, Logger: slog.New(slog.DiscardHandler)})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "http://gatehouse-sidecar:9090/m/@v/list", nil))
	if rec.Code != 200 {
		t.Errorf("--allow-remote: %d", rec.Code)
	}
}

func TestProxyHealthzAndMethods(t *testing.T) {
	var hits atomic.Int32
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer up.Close()
	purl, _ := startProxy(t, up.URL, failingSource{}, nil)
	resp, _ := http.Get(purl + "/healthz")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "ok\n" {
		t.Errorf("healthz: %d %q", resp.StatusCode, body)
	}
	resp, _ = http.Post(purl+"/m/@v/list", "text/plain", strings.NewReader("x"))
	resp.Body.Close()
	if resp.StatusCode != 405 || hits.Load() != 0 {
		t.Errorf("POST: %d, hits %d", resp.StatusCode, hits.Load())
	}
}

// TLS to the upstream: verified against --ca-file, with a client
// certificate when the upstream asks for one.
func TestTransportTLSAndClientCert(t *testing.T) {
	ca := testpki.NewCA(t, "test CA")
	dir := t.TempDir()
	caFile := ca.WriteCA(t, dir, "ca.pem")
	clientCert := func(cn string) (string, string) { return ca.Client(t, cn).WriteFiles(t, t.TempDir(), "client") }
	var sawCert atomic.Value
	up := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			sawCert.Store(r.TLS.PeerCertificates[0].Subject.CommonName)
		}
		io.WriteString(w, "ok")
	}))
	up.TLS = &tls.Config{Certificates: []tls.Certificate{ca.Server(t).TLS(t)}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: ca.Pool()}
	up.StartTLS()
	defer up.Close()

	get := func(tr http.RoundTripper) (int, string) {
		purl, _ := startProxy(t, up.URL, staticSource(secretToken), tr)
		resp, err := http.Get(purl + "/m/@v/list")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	// No private CA: verification fails, nothing is sent.
	tr, _ := NewTransport(TLSOptions{})
	if code, body := get(tr); code != 502 || !strings.Contains(body, "certificate") {
		t.Errorf("untrusted upstream: %d %q", code, body)
	}
	// Trusted CA but no client certificate: the upstream refuses.
	tr, _ = NewTransport(TLSOptions{CAFile: caFile})
	if code, _ := get(tr); code != 502 {
		t.Errorf("no client cert: %d", code)
	}
	certFile, keyFile := clientCert("ci-runner-1")
	tr, err := NewTransport(TLSOptions{CAFile: caFile, ClientCert: certFile, ClientKey: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	if code, body := get(tr); code != 200 || body != "ok" || sawCert.Load() != "ci-runner-1" {
		t.Errorf("mTLS: %d %q cert %v", code, body, sawCert.Load())
	}
	// A rotated certificate is picked up on the next connection.
	c2, k2 := clientCert("ci-runner-2")
	later := time.Now().Add(time.Minute)
	copyFile(t, c2, certFile, later)
	copyFile(t, k2, keyFile, later)
	tr.CloseIdleConnections()
	purl, _ := startProxy(t, up.URL, staticSource(secretToken), tr)
	resp, err := http.Get(purl + "/m/@v/list")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if sawCert.Load() != "ci-runner-2" {
		t.Errorf("after rotation the upstream saw %v", sawCert.Load())
	}

	if _, err := NewTransport(TLSOptions{ClientCert: certFile}); err == nil {
		t.Error("cert without key accepted")
	}
	if _, err := NewTransport(TLSOptions{CAFile: certFile + ".missing"}); err == nil {
		t.Error("missing CA file accepted")
	}
}

func copyFile(t *testing.T, from, to string, mtime time.Time) {
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(filepath.Dir(to), ".tmp")
	os.WriteFile(tmp, data, 0o600)
	os.Chtimes(tmp, mtime, mtime)
	if err := os.Rename(tmp, to); err != nil {
		t.Fatal(err)
	}
}
