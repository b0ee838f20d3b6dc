// Package sdnotify speaks systemd's readiness protocol (sd_notify(3)): one
// datagram per state change, to the unix socket named by $NOTIFY_SOCKET.
// Without that variable (not started by systemd with Type=notify) every
// call does nothing, so callers need not check.
package sdnotify

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"
)

// States a service sends.
const (
	Ready    = "READY=1"
	Stopping = "STOPPING=1"
	Watchdog = "WATCHDOG=1"
)

// Notifier sends states to one socket; the zero Notifier (Socket "") is off.
type Notifier struct {
	Socket string // $NOTIFY_SOCKET: a path, or @name for an abstract socket
}

// FromEnv returns the notifier that getenv's NOTIFY_SOCKET names.
func FromEnv(getenv func(string) string) Notifier {
	return Notifier{Socket: getenv("NOTIFY_SOCKET")}
}

// Enabled says whether there is a socket to notify.
func (n Notifier) Enabled() bool { return n.Socket != "" }

// Notify sends the states, newline-separated, in one datagram.
func (n Notifier) Notify(states ...string) error {
	if n.Socket == "" {
		return nil
	}
	name := n.Socket
	if !strings.HasPrefix(name, "/") && !strings.HasPrefix(name, "@") {
		return errors.New("sdnotify: NOTIFY_SOCKET is neither an absolute path nor @abstract")
	}
	// Go maps a leading @ to the abstract namespace (a leading NUL byte).
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		return err
	}
	defer conn.Close()
	_, err = conn.Write([]byte(strings.Join(states, "\n")))
	return err
}

// WatchdogInterval returns half of $WATCHDOG_USEC, the interval
// sd_watchdog_enabled(3) advises, or 0 when systemd set no watchdog for this
// process ($WATCHDOG_PID, when set, must be ours).
func WatchdogInterval(getenv func(string) string, pid int) time.Duration {
	usec, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || usec <= 0 {
		return 0
	}
	if p := getenv("WATCHDOG_PID"); p != "" && p != strconv.Itoa(pid) {
		return 0
	}
	return time.Duration(usec) * time.Microsecond / 2
}

// RunWatchdog sends WATCHDOG=1 every interval until ctx ends; interval 0
// (no watchdog) returns at once. alive, if not nil, is asked first: a ping
// is sent only while it returns true, so a hung server misses its pings
// and systemd restarts it.
func (n Notifier) RunWatchdog(ctx context.Context, interval time.Duration, alive func() bool) {
	if interval <= 0 || !n.Enabled() {
		return
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if alive == nil || alive() {
				n.Notify(Watchdog)
			}
		}
	}
}
