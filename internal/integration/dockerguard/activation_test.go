package dockerguard

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// socketActivated runs gatehouse docker under systemd-socket-activate, the
// systemd tool that listens like a .socket unit and execs the service on
// the first connection with the socket as descriptor 3 (LISTEN_FDS).
func socketActivated(t *testing.T, sock string, args ...string) (*exec.Cmd, func() string, chan struct{}) {
	t.Helper()
	bin, err := exec.LookPath("systemd-socket-activate")
	if err != nil {
		t.Skip("systemd-socket-activate not found")
	}
	cmd := exec.Command(bin, append([]string{"-l", sock, gatehouseBin, "docker"}, args...)...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	var mu sync.Mutex
	var out bytes.Buffer
	cmd.Stdout = &lockedWriter{mu: &mu, w: io.Discard}
	cmd.Stderr = &lockedWriter{mu: &mu, w: &out}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("systemd-socket-activate did not listen on %s", sock)
		}
	}
	logs := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	return cmd, logs, done
}

func unixHTTP(sock string) *http.Client {
	return &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
}

// gatehouse docker takes the unix socket systemd passes for a --listen
// address (dist/systemd/gatehouse-docker.socket): the first request,
// made before gatehouse runs, waits in the socket's backlog and is then
// answered under the client's rules; the socket file stays systemd's.
func TestDockerSocketActivation(t *testing.T) {
	d := requireEngine(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "guard.sock")
	cfg := filepath.Join(dir, "docker.toml")
	os.WriteFile(cfg, []byte("[[clients]]\nuid = 0\nprofile = \"read-only\"\n"), 0o644)
	cmd, logs, done := socketActivated(t, sock, "--socket", d.socket, "--listen", "unix://"+sock, "--config", cfg)
	c := unixHTTP(sock)
	resp, err := c.Get("http://docker/_ping")
	if err != nil {
		t.Fatalf("first request through the activated socket: %v\n%s", err, logs())
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("_ping: %d\n%s", resp.StatusCode, logs())
	}
	// The guard, not a plain relay: read-only refuses a create.
	resp, err = c.Post("http://docker/containers/create", "application/json", strings.NewReader(`{"Image":"`+image+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("create by a read-only client: %d, want 403", resp.StatusCode)
	}
	if !strings.Contains(logs(), "socket from systemd") {
		t.Errorf("no sign the passed socket was used:\n%s", logs())
	}
	cmd.Process.Signal(syscall.SIGTERM)
	<-done
	if _, err := os.Stat(sock); err != nil {
		t.Errorf("gatehouse removed systemd's socket file: %v", err)
	}
}

// A passed socket that no --listen address names stops gatehouse docker
// at start, rather than leaving it unserved.
func TestDockerSocketActivationUnnamed(t *testing.T) {
	d := requireEngine(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "guard.sock")
	cfg := filepath.Join(dir, "docker.toml")
	os.WriteFile(cfg, []byte("[[clients]]\nuid = 0\nprofile = \"read-only\"\n"), 0o644)
	cmd, logs, done := socketActivated(t, sock, "--socket", d.socket, "--listen", "unix://"+filepath.Join(dir, "other.sock"), "--config", cfg)
	if resp, err := unixHTTP(sock).Get("http://docker/_ping"); err == nil {
		resp.Body.Close()
	}
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("gatehouse docker kept running:\n%s", logs())
	}
	if cmd.ProcessState.ExitCode() != 1 || !strings.Contains(logs(), "systemd passed a socket that --listen does not name") {
		t.Errorf("exit %d:\n%s", cmd.ProcessState.ExitCode(), logs())
	}
}
