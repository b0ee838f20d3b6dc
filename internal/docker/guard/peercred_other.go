//go:build !linux

package guard

import (
	"errors"
	"net"
)

// Peer credentials are read with SO_PEERCRED, which is Linux's; elsewhere a
// unix-socket client is unidentified and may do nothing.
func peerCred(*net.UnixConn) peer {
	return peer{err: errors.New("peer credentials are only read on Linux")}
}
