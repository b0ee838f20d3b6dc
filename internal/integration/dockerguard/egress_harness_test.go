package dockerguard

import (
	"bufio"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testpki"
)

// runnerClient has the quick-start "runner" profile: ci plus networks.
const runnerClient = "runner-client"

// newBindEnv starts a gatehouse docker whose ci clients may bind e.allow
// read-only and e.writable read-write, and a runner client whose profile is
// the quick start's (ci with networks/create).
func newBindEnv(t testing.TB) (*env, string) {
	t.Helper()
	d := requireEngine(t)
	tmp := openDir(t, 0o755)
	e := &env{d: d, certs: map[string]string{}, tmp: tmp, allow: filepath.Join(tmp, "allowed")}
	writable := filepath.Join(tmp, "writable")
	os.Mkdir(e.allow, 0o755)
	os.Mkdir(writable, 0o777)
	authority := testpki.NewCA(t, "gatehouse test CA")
	server := certDir(t, authority.Server(t), authority)
	for _, n := range []string{ciClient, fullClient, runnerClient} {
		e.certs[n] = certDir(t, authority.Client(t, n), authority)
	}
	cfg := `bind_allowlist = ["` + e.allow + `"]
bind_writable = ["` + writable + `"]
audit_file = "` + filepath.Join(tmp, "audit.log") + `"

[profiles.runner]
presets = ["ci"]
allow = ["POST /networks/create", "DELETE /networks/{id}"]

[[clients]]
cert = "ci-client"
profile = "ci"

[[clients]]
cert = "full-client"
profile = "full"

[[clients]]
cert = "runner-client"
profile = "runner"
`
	cfgFile := filepath.Join(tmp, "docker.toml")
	os.WriteFile(cfgFile, []byte(cfg), 0o644)
	e.g = startGuard(t, "--socket", d.socket, "--listen", "127.0.0.1:0,unix://"+filepath.Join(tmp, "gh.sock"),
		"--tls-cert", filepath.Join(server, "cert.pem"), "--tls-key", filepath.Join(server, "key.pem"),
		"--client-ca", filepath.Join(server, "ca.pem"), "--config", cfgFile)
	e.g.caPEM = authority.CertPEM
	return e, writable
}

// loopbackServer counts the connections made to it on 127.0.0.1 and answers
// each with a small HTTP response: the host service a client would make
// dockerd reach.
type loopbackServer struct {
	addr  string
	conns atomic.Int64
}

func newLoopbackServer(t testing.TB) *loopbackServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &loopbackServer{addr: ln.Addr().String()}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				defer c.Close()
				bufio.NewReader(c).ReadString('\n')
				c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nhost secret\n"))
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return s
}
