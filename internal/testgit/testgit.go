// Package testgit runs a private git host on loopback for tests: git's own
// http-backend under net/http/cgi behind HTTP basic auth, serving go-import
// meta tags, over TLS with a certificate for made-up host names signed by a
// throwaway CA. Module paths carry no port and there is no DNS here, so the
// server is also a forward proxy: a client that uses it as HTTPS_PROXY and
// trusts the CA (SSL_CERT_FILE, GIT_SSL_CAINFO) reaches the made-up hosts
// through CONNECT. Every CONNECT and accepted connection is counted, so a
// test can prove that a host was never contacted.
package testgit

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/cgi"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// Server is a running private git host.
type Server struct {
	Hosts    []string // the made-up host names it serves
	ProxyURL string   // http://127.0.0.1:port, the forward proxy
	CAFile   string   // PEM of the CA that signed the host certificate
	User     string
	Password string
	Root     string // the bare repositories

	git     string
	tlsAddr string

	mu       sync.Mutex
	meta     map[string]string // import path → "vcs repoURL", overriding the default
	connects map[string]int    // CONNECT target host → count
	accepted int               // connections accepted by the forward proxy
}

// New starts a git host for hosts, with basic-auth credentials user:password.
func New(t testing.TB, user, password string, hosts ...string) *Server {
	t.Helper()
	git := testutil.RequireCommand(t, "git")
	out, err := exec.Command(git, "--exec-path").Output()
	if err != nil {
		t.Fatal(err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	dir := t.TempDir()
	s := &Server{Hosts: hosts, User: user, Password: password, Root: filepath.Join(dir, "repos"), git: git,
		meta: map[string]string{}, connects: map[string]int{}}
	os.MkdirAll(s.Root, 0o755)

	caPEM, cert := makeCerts(t, hosts)
	s.CAFile = filepath.Join(dir, "ca.pem")
	os.WriteFile(s.CAFile, caPEM, 0o644)

	cgiH := &cgi.Handler{Path: backend, Root: "/", Env: []string{"GIT_PROJECT_ROOT=" + s.Root, "GIT_HTTP_EXPORT_ALL=1"}, Stderr: io.Discard}
	tlsLn, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	s.tlsAddr = tlsLn.Addr().String()
	gitSrv := &http.Server{Handler: s.gitHandler(cgiH), ReadHeaderTimeout: 10 * time.Second}
	go gitSrv.Serve(tlsLn)

	pln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.ProxyURL = "http://" + pln.Addr().String()
	proxySrv := &http.Server{Handler: http.HandlerFunc(s.proxy), ReadHeaderTimeout: 10 * time.Second}
	go proxySrv.Serve(&countingListener{Listener: pln, s: s})
	t.Cleanup(func() {
		proxySrv.Close()
		gitSrv.Close()
	})
	return s
}

// Env is what a client (gatehouse, or a child of it) needs to reach the
// hosts: the proxy and the CA.
func (s *Server) Env() []string {
	return []string{"HTTPS_PROXY=" + s.ProxyURL, "https_proxy=" + s.ProxyURL, "SSL_CERT_FILE=" + s.CAFile, "GIT_SSL_CAINFO=" + s.CAFile}
}

// SetMeta makes importPath's go-import tag say "git repoURL".
func (s *Server) SetMeta(importPath, repoURL string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.meta[importPath] = "git " + repoURL
}

// Connects returns how many CONNECTs asked for host.
func (s *Server) Connects(host string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects[host]
}

// Accepted returns how many connections the proxy accepted.
func (s *Server) Accepted() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted
}

type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.s.mu.Lock()
		l.s.accepted++
		l.s.mu.Unlock()
	}
	return c, err
}

// proxy answers CONNECT for the served hosts by tunnelling to the TLS
// listener; anything else is refused.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.Host)
	s.mu.Lock()
	s.connects[host]++
	s.mu.Unlock()
	known := false
	for _, h := range s.Hosts {
		known = known || h == host
	}
	if r.Method != http.MethodConnect || !known {
		http.Error(w, "test proxy: unknown host", http.StatusBadGateway)
		return
	}
	up, err := net.Dial("tcp", s.tlsAddr)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	down, brw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		up.Close()
		return
	}
	io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() { io.Copy(up, brw); up.Close() }()
	io.Copy(down, up)
	down.Close()
}

// gitHandler checks basic auth, answers ?go-get=1 with a go-import tag,
// and passes the rest to git http-backend.
func (s *Server) gitHandler(backend http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, p, ok := r.BasicAuth()
		if !ok || u != s.User || p != s.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="git"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		host, _, err := net.SplitHostPort(r.Host)
		if err != nil {
			host = r.Host
		}
		if r.URL.Query().Get("go-get") == "1" {
			importPath := host + strings.TrimSuffix(r.URL.Path, "/")
			s.mu.Lock()
			vcsURL, custom := s.meta[importPath]
			s.mu.Unlock()
			if !custom {
				// A repository named after the path's first element.
				first, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
				importPath = host + "/" + first
				vcsURL = "git https://" + host + "/" + first + ".git"
			}
			fmt.Fprintf(w, "<html><head><meta name=\"go-import\" content=\"%s %s\"></head></html>\n", importPath, vcsURL)
			return
		}
		backend.ServeHTTP(w, r)
	})
}

// Repo is a repository on the server and a work tree to change it.
type Repo struct {
	s    *Server
	work string
	Name string
}

// CreateRepo makes a bare repository name.git with a work tree.
func (s *Server) CreateRepo(t testing.TB, name string) *Repo {
	t.Helper()
	r := &Repo{s: s, work: t.TempDir(), Name: name}
	bare := filepath.Join(s.Root, name+".git")
	r.git(t, "", "init", "-q", "--bare", "--initial-branch=main", bare)
	r.git(t, r.work, "init", "-q", "--initial-branch=main")
	r.git(t, r.work, "remote", "add", "origin", bare)
	return r
}

// Commit writes files, commits them and pushes main.
func (r *Repo) Commit(t testing.TB, files map[string]string) {
	t.Helper()
	r.CommitAt(t, files, time.Time{})
}

// CommitAt is Commit with author and committer dates set to when (zero:
// now), as an author backdating a commit does.
func (r *Repo) CommitAt(t testing.TB, files map[string]string, when time.Time) {
	t.Helper()
	testutil.WriteFiles(t, r.work, files)
	r.git(t, r.work, "add", "-A")
	var env []string
	if !when.IsZero() {
		d := when.Format(time.RFC3339)
		env = []string{"GIT_AUTHOR_DATE=" + d, "GIT_COMMITTER_DATE=" + d}
	}
	r.gitEnv(t, r.work, env, "commit", "-q", "-m", "change")
	r.git(t, r.work, "push", "-q", "origin", "main")
}

// Head returns the full hash of the last commit.
func (r *Repo) Head(t testing.TB) string {
	t.Helper()
	out, err := exec.Command(r.s.git, "-C", r.work, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatalf("git rev-parse HEAD: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// Tag points tag at the current commit on the server, moving it if it exists.
func (r *Repo) Tag(t testing.TB, tag string) {
	t.Helper()
	r.git(t, r.work, "tag", "-f", tag)
	r.git(t, r.work, "push", "-q", "-f", "origin", "refs/tags/"+tag)
}

func (r *Repo) git(t testing.TB, dir string, args ...string) {
	t.Helper()
	r.gitEnv(t, dir, nil, args...)
}

func (r *Repo) gitEnv(t testing.TB, dir string, env []string, args ...string) {
	t.Helper()
	cmd := exec.Command(r.s.git, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.work, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}, env...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

func makeCerts(t testing.TB, hosts []string) ([]byte, tls.Certificate) {
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gatehouse test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: hosts[0]}, DNSNames: hosts,
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
