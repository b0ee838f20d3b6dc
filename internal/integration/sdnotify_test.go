package integration

import (
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
)

// serve started as by systemd with Type=notify and WatchdogSec: READY=1
// comes once the listener answers, WATCHDOG=1 at half WATCHDOG_USEC, and
// STOPPING=1 on SIGTERM. The socket is a real unix datagram socket.
func TestServeNotifiesSystemd(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify.sock")
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msgs := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			if err != nil {
				close(msgs)
				return
			}
			msgs <- string(buf[:n])
		}
	}()
	next := func(want string) string {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case m := <-msgs:
				if strings.Contains(m, want) {
					return m
				}
			case <-timeout:
				t.Fatalf("no %s from serve", want)
			}
		}
	}
	up := testproxy.New(t)
	p := startServeEnv(t, "", []string{"NOTIFY_SOCKET=" + sock, "WATCHDOG_USEC=200000"},
		"--upstream", up.URL, "--sumdb", up.GOSUMDB())
	ready := next("READY=1")
	if !strings.Contains(ready, "STATUS=serving on "+strings.TrimPrefix(p.URL, "http://")) {
		t.Errorf("READY datagram %q does not name the listener %s", ready, p.URL)
	}
	if resp, _ := get(t, p.URL+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz after READY=1: %d", resp.StatusCode)
	}
	start := time.Now()
	next("WATCHDOG=1")
	next("WATCHDOG=1")
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("two watchdog pings took %v at a 100ms interval", d)
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	next("STOPPING=1")
	// Wait for the exit this SIGTERM started; a second signal (p.stop's)
	// could land after serve stopped catching them and kill it.
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not exit after SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// Without NOTIFY_SOCKET nothing is sent and nothing is logged about it.
func TestServeWithoutSystemd(t *testing.T) {
	up := testproxy.New(t)
	p := serveTestUpstream(t, up)
	if strings.Contains(p.Logs(), "notify systemd") {
		t.Errorf("log mentions systemd without NOTIFY_SOCKET:\n%s", p.Logs())
	}
}
