// Package sdlisten takes the listening sockets systemd passes a
// socket-activated service (sd_listen_fds(3)): descriptors from 3 on,
// $LISTEN_FDS of them, when $LISTEN_PID is this process. systemd then owns
// the socket file, its mode and group (the .socket unit), and connections
// wait in its backlog while the service starts or restarts.
package sdlisten

import (
	"fmt"
	"net"
	"os"
	"strconv"
)

const firstFD = 3

// Listeners returns the stream sockets passed to process pid, keyed by
// address: unix:///path for a unix socket, host:port for TCP. Without
// LISTEN_FDS, or for another process, it returns none.
func Listeners(getenv func(string) string, pid int) (map[string]net.Listener, error) {
	if getenv("LISTEN_PID") != strconv.Itoa(pid) {
		return nil, nil
	}
	n, err := strconv.Atoi(getenv("LISTEN_FDS"))
	if err != nil || n < 0 || n > 1024 {
		return nil, fmt.Errorf("socket activation: LISTEN_FDS=%q is not a count of sockets", getenv("LISTEN_FDS"))
	}
	lns := map[string]net.Listener{}
	closeAll := func() {
		for _, ln := range lns {
			ln.Close()
		}
	}
	for fd := firstFD; fd < firstFD+n; fd++ {
		f := os.NewFile(uintptr(fd), "LISTEN_FD_"+strconv.Itoa(fd))
		// FileListener duplicates the descriptor, close-on-exec.
		ln, err := net.FileListener(f)
		f.Close()
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("socket activation: descriptor %d is not a listening stream socket: %v", fd, err)
		}
		key := ln.Addr().String()
		if ua, ok := ln.Addr().(*net.UnixAddr); ok {
			key = "unix://" + ua.Name
			// The socket file is systemd's: do not remove it at Close.
			ln.(*net.UnixListener).SetUnlinkOnClose(false)
		}
		lns[key] = ln
	}
	return lns, nil
}
