package dockerguard

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/testpki"
)

// certDir writes a certificate pair and a CA into a new directory, as
// cert.pem, key.pem and ca.pem: the layout DOCKER_CERT_PATH expects.
func certDir(t testing.TB, p testpki.Pair, ca *testpki.CA) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range map[string][]byte{"cert.pem": p.CertPEM, "key.pem": p.KeyPEM, "ca.pem": ca.CertPEM} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// guardProc is a running gatehouse docker.
type guardProc struct {
	addr   string // TLS listener
	unix   string // unix listener path
	caPEM  []byte
	cmd    *exec.Cmd
	mu     sync.Mutex
	stderr bytes.Buffer
	stdout bytes.Buffer // audit lines
	done   chan struct{}
}

var listenRE = regexp.MustCompile(`listen=(\S+)`)

// env is the shared setup: a gatehouse docker with clients for each preset.
type env struct {
	d     *dockerd
	g     *guardProc
	certs map[string]string // client name → DOCKER_CERT_PATH
	allow string            // the bind allowlist directory
	tmp   string
}

// Clients of the test configuration.
const (
	roClient   = "ro-client"   // read-only, by certificate
	ciClient   = "ci-client"   // ci, by certificate
	fullClient = "full-client" // full, by certificate
	stranger   = "stranger"    // a valid certificate that no client entry names
	rogue      = "rogue"       // ci-client's name, signed by another CA
	roUID      = 65534         // read-only, by uid on the unix socket
	groupGID   = 4343          // read-only, by primary gid; also the socket's group
	strangeUID = 4242          // no entry
)

func newEnv(t testing.TB) *env {
	t.Helper()
	d := requireEngine(t)
	tmp := openDir(t, 0o755) // other uids reach the unix listener in it
	e := &env{d: d, certs: map[string]string{}, tmp: tmp, allow: filepath.Join(tmp, "allowed")}
	os.Mkdir(e.allow, 0o755)
	authority := testpki.NewCA(t, "gatehouse test CA")
	server := certDir(t, authority.Server(t), authority)
	for _, n := range []string{roClient, ciClient, fullClient, stranger} {
		e.certs[n] = certDir(t, authority.Client(t, n), authority)
	}
	// ci-client's name from another CA; it trusts the real server, so only
	// its own certificate is wrong.
	e.certs[rogue] = certDir(t, testpki.NewCA(t, "rogue CA").Client(t, ciClient), authority)

	unixSock := filepath.Join(tmp, "gh.sock")
	// Listeners, TLS and the socket as flags; profiles and clients live
	// only in the file.
	flags := []string{"--socket", d.socket, "--listen", "127.0.0.1:0,unix://" + unixSock,
		"--tls-cert", filepath.Join(server, "cert.pem"), "--tls-key", filepath.Join(server, "key.pem"),
		"--client-ca", filepath.Join(server, "ca.pem"), "--socket-mode", "0660", "--socket-group", "4343"}
	cfg := `bind_allowlist = ["` + e.allow + `"]
audit_file = "` + filepath.Join(tmp, "audit.log") + `"

[profiles.dashboard]
presets = ["read-only"]

[[clients]]
cert = "ro-client"
profile = "dashboard"

[[clients]]
cert = "ci-client"
profile = "ci"

[[clients]]
cert = "full-client"
profile = "full"

[[clients]]
uid = 0
profile = "ci"

[[clients]]
uid = 65534
profile = "read-only"

[[clients]]
gid = 4343
profile = "read-only"
`
	cfgFile := filepath.Join(tmp, "docker.toml")
	os.WriteFile(cfgFile, []byte(cfg), 0o644)
	e.g = startGuard(t, append(flags, "--config", cfgFile)...)
	e.g.caPEM = authority.CertPEM
	return e
}

func startGuard(t testing.TB, args ...string) *guardProc {
	t.Helper()
	cmd := exec.Command(gatehouseBin, append([]string{"docker"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	g := &guardProc{cmd: cmd, done: make(chan struct{})}
	stderr, _ := cmd.StderrPipe()
	cmd.Stdout = &lockedWriter{mu: &g.mu, w: &g.stdout}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrs := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			g.mu.Lock()
			g.stderr.WriteString(line + "\n")
			g.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil && strings.Contains(line, "gatehouse docker listening") {
				addrs <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(g.done) }()
	t.Cleanup(func() {
		g.stop(t)
		if t.Failed() {
			t.Logf("gatehouse docker log:\n%s", g.logs())
		}
	})
	for g.addr == "" || g.unix == "" {
		select {
		case a := <-addrs:
			if p, ok := strings.CutPrefix(a, "unix://"); ok {
				g.unix = p
			} else {
				g.addr = a
			}
		case <-g.done:
			t.Fatalf("gatehouse docker exited at start:\n%s", g.logs())
		case <-time.After(30 * time.Second):
			t.Fatalf("gatehouse docker did not start:\n%s", g.logs())
		}
	}
	return g
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

func (g *guardProc) logs() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.stderr.String()
}

// audit returns the audit records written so far.
func (g *guardProc) audit(t testing.TB) []audit.Record {
	g.mu.Lock()
	data := g.stdout.String()
	g.mu.Unlock()
	var recs []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(data), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line is not JSON: %q", line)
		}
		recs = append(recs, r)
	}
	return recs
}

func (g *guardProc) stop(t testing.TB) {
	select {
	case <-g.done:
		return
	default:
	}
	g.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		g.cmd.Process.Kill()
		<-g.done
		t.Errorf("gatehouse docker did not stop on SIGTERM")
	}
	if strings.Contains(g.logs(), "DATA RACE") {
		t.Errorf("race detected in gatehouse docker")
	}
}

// result is the outcome of one docker CLI run.
type result struct {
	out, err string
	code     int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.code, r.out, r.err)
}

// cli runs the real docker CLI as client (a name from certs), through the
// TLS listener.
func (e *env) cli(t testing.TB, client, stdin string, args ...string) result {
	t.Helper()
	environ := []string{
		"DOCKER_HOST=tcp://" + e.g.addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + e.certs[client],
	}
	return e.runDocker(t, environ, nil, stdin, args...)
}

// cliUnix runs the docker CLI through the unix listener as root, or as
// another uid and primary gid, with the socket's group as a supplementary
// group if inGroup.
func (e *env) cliUnix(t testing.TB, uid, gid int, inGroup bool, stdin string, args ...string) result {
	t.Helper()
	var cred *syscall.Credential
	if uid != 0 {
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if inGroup {
			cred.Groups = []uint32{groupGID}
		}
	}
	return e.runDocker(t, []string{"DOCKER_HOST=unix://" + e.g.unix}, cred, stdin, args...)
}

// cliCommand returns an unstarted docker CLI command for client over TLS,
// for a test that reads its output while it runs.
func (e *env) cliCommand(t testing.TB, client string, args ...string) *exec.Cmd {
	home := openDir(t, 0o700)
	cmd := exec.Command(dockerBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "DOCKER_CONFIG=" + home,
		"DOCKER_HOST=tcp://" + e.g.addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + e.certs[client]}
	return cmd
}

// direct runs the docker CLI against dockerd itself, bypassing gatehouse,
// to set up and check what really happened.
func (e *env) direct(t testing.TB, args ...string) result {
	t.Helper()
	return e.runDocker(t, []string{"DOCKER_HOST=unix://" + e.d.socket}, nil, "", args...)
}

func (e *env) runDocker(t testing.TB, environ []string, cred *syscall.Credential, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, dockerBin, args...)
	home := openDir(t, 0o777)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "DOCKER_CONFIG=" + home, "DOCKER_BUILDKIT=0"}, environ...)
	cmd.Stdin = strings.NewReader(stdin)
	if cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{out: out.String(), err: errb.String()}
	if err != nil {
		r.code = 1
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		}
		if ctx.Err() != nil {
			t.Fatalf("docker %s: timed out\n%s", strings.Join(args, " "), r)
		}
	}
	return r
}

// ok runs the CLI as client and fails the test unless it succeeds.
func (e *env) ok(t testing.TB, client string, args ...string) string {
	t.Helper()
	r := e.cli(t, client, "", args...)
	if r.code != 0 {
		t.Fatalf("docker %s as %s failed:\n%s", strings.Join(args, " "), client, r)
	}
	return strings.TrimSpace(r.out)
}

// refused runs the CLI as client and fails the test unless gatehouse
// refused it with a message naming rule.
func (e *env) refused(t testing.TB, client, rule string, args ...string) {
	t.Helper()
	r := e.cli(t, client, "", args...)
	if r.code == 0 || !strings.Contains(r.err, "gatehouse refused") || !strings.Contains(r.err, "(rule "+rule+")") {
		t.Errorf("docker %s as %s: want a refusal naming rule %s, got:\n%s", strings.Join(args, " "), client, rule, r)
	}
}

// tlsConn dials the TLS listener with client's certificate.
func (e *env) tlsConn(t testing.TB, client string) (*tls.Conn, error) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.g.caPEM)
	cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
	if client != "" {
		cert, err := tls.LoadX509KeyPair(filepath.Join(e.certs[client], "cert.pem"), filepath.Join(e.certs[client], "key.pem"))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", e.g.addr, cfg)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c, nil
}

// openDir returns a new temp dir with mode, whose parents other users may
// pass through (t.TempDir's parent is private to root).
func openDir(t testing.TB, mode os.FileMode) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "gh-dockerguard-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, mode)
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
