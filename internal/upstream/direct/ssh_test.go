package direct_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/upstream/direct"
)

// startSSHD runs sshd on a loopback port, accepting only clientPub for the
// current user; it returns the port, the known_hosts line file and the log.
func startSSHD(t *testing.T, dir, clientPub string) (port int, knownHosts string, log *testutil.Buffer) {
	t.Helper()
	sshd := "/usr/sbin/sshd"
	if _, err := os.Stat(sshd); err != nil {
		sshd = testutil.RequireCommand(t, "sshd")
	}
	keygen := testutil.RequireCommand(t, "ssh-keygen")
	hostKey := filepath.Join(dir, "host_key")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", hostKey).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "authorized_keys"), []byte(clientPub), 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	u, _ := user.Current()
	cfg := filepath.Join(dir, "sshd_config")
	os.WriteFile(cfg, fmt.Appendf(nil, `ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile none
AuthorizedKeysFile %s
PasswordAuthentication no
KbdInteractiveAuthentication no
PubkeyAuthentication yes
StrictModes no
UsePAM no
PermitRootLogin prohibit-password
AllowUsers %s
LogLevel VERBOSE
`, port, hostKey, filepath.Join(dir, "authorized_keys"), u.Username), 0o600)
	log = &testutil.Buffer{}
	cmd := exec.Command(sshd, "-D", "-e", "-f", cfg)
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if c, err := net.Dial("tcp", ln.Addr().String()); err == nil {
			c.Close()
			break
		}
		if i > 100 {
			t.Fatalf("sshd did not start:\n%s", log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	pub, _ := os.ReadFile(hostKey + ".pub")
	fields := strings.Fields(string(pub))
	knownHosts = filepath.Join(dir, "known_hosts")
	os.WriteFile(knownHosts, fmt.Appendf(nil, "[127.0.0.1]:%d %s %s\n", port, fields[0], fields[1]), 0o600)
	return port, knownHosts, log
}

// git over ssh with a deploy key and pinned host key; an ssh URL to a host
// not on the list is refused before ssh connects.
var sshRuns int

func TestSSHDeployKey(t *testing.T) {
	g, _ := setup(t)
	dir := t.TempDir()
	keygen := testutil.RequireCommand(t, "ssh-keygen")
	key := filepath.Join(dir, "deploy_key")
	if out, err := exec.Command(keygen, "-q", "-t", "ed25519", "-N", "", "-f", key).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v %s", err, out)
	}
	pub, _ := os.ReadFile(key + ".pub")
	port, knownHosts, sshdLog := startSSHD(t, dir, string(pub))

	// The git server is shared by the package; a fresh name per run lets
	// -count=N push a new repository each time.
	sshRuns++
	name := fmt.Sprintf("sshlib%d", sshRuns)
	repo := g.CreateRepo(t, name)
	repo.Commit(t, map[string]string{"go.mod": "module git.corp.test/" + name + "\n\ngo 1.21\n", "lib.go": "package sshlib\n"})
	repo.Tag(t, "v1.0.0")
	u, _ := user.Current()
	g.SetMeta("git.corp.test/"+name, fmt.Sprintf("ssh://%s@127.0.0.1:%d%s/%s.git", u.Username, port, g.Root, name))
	g.SetMeta("git.corp.test/sshother", fmt.Sprintf("ssh://%s@localhost:%d%s/%s.git", u.Username, port, g.Root, name))

	var logs testutil.Buffer
	env := map[string]string{"PATH": os.Getenv("PATH"), "SSL_CERT_FILE": g.CAFile, "GIT_SSL_CAINFO": g.CAFile}
	proxy, _ := url.Parse(g.ProxyURL)
	s, err := direct.New(direct.Options{
		Private: "git.corp.test", Hosts: direct.Hosts{"git.corp.test", fmt.Sprintf("127.0.0.1:%d", port)},
		TempDir: t.TempDir(), Timeout: time.Minute,
		Creds: direct.Credentials{
			// https for the go-import lookup, ssh for git.
			Netrc:      []direct.NetrcEntry{{Machine: "git.corp.test", Login: "deploy", Password: password}},
			SSHKeyFile: key, SSHKnownHosts: knownHosts,
		},
		Getenv:      func(k string) string { return env[k] },
		ParentProxy: http.ProxyURL(proxy),
		Logger:      slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mod, err := s.GoMod(context.Background(), "git.corp.test/"+name, "v1.0.0")
	if err != nil || !strings.HasPrefix(string(mod), "module git.corp.test/"+name+"\n") {
		t.Fatalf("GoMod over ssh: %q, %v\nsshd:\n%s", mod, err, sshdLog.String())
	}
	if !strings.Contains(sshdLog.String(), "Accepted publickey") {
		t.Errorf("sshd did not see the deploy key:\n%s", sshdLog.String())
	}

	before := strings.Count(sshdLog.String(), "Connection from")
	if before == 0 {
		t.Fatalf("sshd does not log connections; the check below would prove nothing:\n%s", sshdLog.String())
	}
	if _, err := s.GoMod(context.Background(), "git.corp.test/sshother", "v1.0.0"); err == nil {
		t.Error("ssh to a host not on the list succeeded")
	}
	if n := strings.Count(sshdLog.String(), "Connection from") - before; n != 0 {
		t.Errorf("ssh connected %d times to a host not on the list", n)
	}
	if bytes.Contains([]byte(logs.String()), []byte(password)) {
		t.Error("the password is in the log")
	}
}
