package auth

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// Networks is a set of address prefixes.
type Networks []netip.Prefix

// ParseNetworks parses CIDRs; a bare address means just that address.
func ParseNetworks(cidrs []string) (Networks, error) {
	var ns Networks
	for _, c := range cidrs {
		c = strings.TrimSpace(c)
		if !strings.Contains(c, "/") {
			a, err := netip.ParseAddr(c)
			if err != nil {
				return nil, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8 or an address", c)
			}
			ns = append(ns, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(c)
		if err != nil {
			return nil, fmt.Errorf("%q is not a CIDR like 10.0.0.0/8", c)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		ns = append(ns, p.Masked())
	}
	return ns, nil
}

// Contains reports whether a is in one of the prefixes.
func (ns Networks) Contains(a netip.Addr) bool {
	a = a.Unmap()
	for _, p := range ns {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientAddr returns the address of the client that made r. It is the
// connection's peer, unless that peer is a trusted proxy: then
// X-Forwarded-For is read from the right, skipping trusted proxies, and the
// first address that is not one is the client. Addresses left of it were
// written by the client itself and are ignored. ok is false when the peer
// address cannot be parsed.
func ClientAddr(r *http.Request, trusted Networks) (netip.Addr, bool) {
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return netip.Addr{}, false
	}
	addr := peer.Addr().Unmap()
	if len(trusted) == 0 || !trusted.Contains(addr) {
		return addr, true
	}
	var hops []string
	for _, h := range r.Header.Values("X-Forwarded-For") {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			// A malformed hop: stop at the last address a trusted
			// proxy vouched for rather than guess.
			return addr, true
		}
		addr = a.Unmap()
		if !trusted.Contains(addr) {
			return addr, true
		}
	}
	return addr, true
}

// IsLoopbackListen reports whether a listen address (host:port) binds only
// loopback interfaces. "localhost" counts; an empty host (all interfaces)
// does not.
func IsLoopbackListen(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// FilterListener drops connections whose peer is neither in allowed nor
// in trusted (proxies, whose clients are checked per request) before a
// byte is read, so a refused network does not even get a TLS handshake.
// With allowed empty it returns ln unchanged.
func FilterListener(ln net.Listener, allowed, trusted Networks) net.Listener {
	if len(allowed) == 0 {
		return ln
	}
	return &filterListener{Listener: ln, allowed: allowed, trusted: trusted}
}

type filterListener struct {
	net.Listener
	allowed, trusted Networks
}

func (l *filterListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ap, err := netip.ParseAddrPort(c.RemoteAddr().String()); err == nil {
			if a := ap.Addr().Unmap(); l.allowed.Contains(a) || l.trusted.Contains(a) {
				return c, nil
			}
		}
		c.Close()
	}
}
