// Package listen opens the listeners of gatehouse docker: a TCP port that
// speaks only TLS and demands a client certificate signed by a given CA, and
// a unix socket with a chosen mode and group.
package listen

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/tlsconf"
)

// TLSConfig is a server configuration that accepts only clients with a
// certificate that the CA in caFile signed (serve's internal/tlsconf, with
// its certificate reloading, made strict). It offers HTTP/1.1 alone: the
// Docker API's hijacked streams (attach, exec) do not exist over HTTP/2.
func TLSConfig(certFile, keyFile, caFile string, log *slog.Logger) (*tls.Config, error) {
	if caFile == "" {
		return nil, errors.New("a client CA is required")
	}
	cfg, err := tlsconf.Server(tlsconf.Options{CertFile: certFile, KeyFile: keyFile, ClientCA: caFile, Logger: log})
	if err != nil {
		return nil, err
	}
	cfg.ClientAuth = tls.RequireAndVerifyClientCert
	cfg.NextProtos = []string{"http/1.1"}
	return cfg, nil
}

// TLS listens on a TCP address with cfg.
func TLS(addr string, cfg *tls.Config) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	return tls.NewListener(ln, cfg), nil
}

// Unix listens on a unix socket at path with file mode and, if group is not
// empty, that group (a name or a number). A stale socket left by a previous
// run is replaced; a live one or any other file is an error.
func Unix(path string, mode fs.FileMode, group string) (net.Listener, error) {
	gid := -1
	if group != "" {
		g, err := lookupGroup(group)
		if err != nil {
			return nil, err
		}
		gid = g
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode().Type() != fs.ModeSocket {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("%s is in use by another process", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	// Until the chmod the socket has the umask's mode; a peer that connects
	// in that moment is still identified by its uid and gid.
	if err := os.Chmod(path, mode); err != nil {
		ln.Close()
		return nil, err
	}
	if gid >= 0 {
		if err := os.Chown(path, -1, gid); err != nil {
			ln.Close()
			return nil, err
		}
	}
	return ln, nil
}

func lookupGroup(group string) (int, error) {
	if n, err := strconv.Atoi(group); err == nil && n >= 0 {
		return n, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("socket group %q: no such group", group)
	}
	return strconv.Atoi(g.Gid)
}

// ParseMode reads an octal file mode such as "0660".
func ParseMode(s string) (fs.FileMode, error) {
	n, err := strconv.ParseUint(strings.TrimPrefix(s, "0o"), 8, 32)
	if err != nil || n > 0o777 {
		return 0, fmt.Errorf("%q is not an octal file mode like 0660", s)
	}
	return fs.FileMode(n), nil
}
