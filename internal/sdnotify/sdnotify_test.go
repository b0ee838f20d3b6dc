package sdnotify

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// listen opens a real unixgram socket, as systemd does for NOTIFY_SOCKET.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func read(t *testing.T, c *net.UnixConn, within time.Duration) (string, bool) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	n, err := c.Read(buf)
	if err != nil {
		return "", false
	}
	return string(buf[:n]), true
}

func TestNotifyPathAndAbstract(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	abstract := "@gatehouse-sdnotify-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	for _, name := range []string{path, abstract} {
		c := listen(t, name)
		n := FromEnv(func(k string) string {
			if k == "NOTIFY_SOCKET" {
				return name
			}
			return ""
		})
		if err := n.Notify(Ready, "STATUS=serving"); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got, ok := read(t, c, 2*time.Second); !ok || got != "READY=1\nSTATUS=serving" {
			t.Errorf("%s: got %q, %v", name, got, ok)
		}
	}
}

func TestNotifyOffAndBad(t *testing.T) {
	if err := (Notifier{}).Notify(Ready); err != nil {
		t.Errorf("no socket: %v", err)
	}
	if err := (Notifier{Socket: "relative.sock"}).Notify(Ready); err == nil {
		t.Errorf("a relative socket name was accepted")
	}
	if err := (Notifier{Socket: filepath.Join(t.TempDir(), "none")}).Notify(Ready); err == nil {
		t.Errorf("a missing socket gave no error")
	}
}

func TestWatchdogInterval(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tc := range []struct {
		env  map[string]string
		want time.Duration
	}{
		{map[string]string{}, 0},
		{map[string]string{"WATCHDOG_USEC": "30000000"}, 15 * time.Second},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"}, 15 * time.Second},
		{map[string]string{"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"}, 0}, // another process's
		{map[string]string{"WATCHDOG_USEC": "nope"}, 0},
		{map[string]string{"WATCHDOG_USEC": "-5"}, 0},
	} {
		if got := WatchdogInterval(env(tc.env), 42); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.env, got, tc.want)
		}
	}
}

// Pings arrive at the interval while alive says so, and stop when it does
// not: a hung server misses them.
func TestRunWatchdog(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c := listen(t, path)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	alive := make(chan bool, 1)
	alive <- true
	healthy := true
	done := make(chan struct{})
	go func() {
		defer close(done)
		Notifier{Socket: path}.RunWatchdog(ctx, 20*time.Millisecond, func() bool {
			select {
			case healthy = <-alive:
			default:
			}
			return healthy
		})
	}()
	for i := 0; i < 3; i++ {
		if got, ok := read(t, c, 2*time.Second); !ok || !strings.Contains(got, Watchdog) {
			t.Fatalf("ping %d: %q %v", i, got, ok)
		}
	}
	alive <- false
	time.Sleep(60 * time.Millisecond) // one ping may be on its way
	for {
		if _, ok := read(t, c, 10*time.Millisecond); !ok {
			break
		}
	}
	if got, ok := read(t, c, 150*time.Millisecond); ok {
		t.Errorf("a ping while not alive: %q", got)
	}
	cancel()
	<-done
}
