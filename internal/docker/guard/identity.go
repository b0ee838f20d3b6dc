package guard

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
)

// A Client maps an identity to a profile. Exactly one of Cert, UID and GID
// is set.
type Client struct {
	// Cert matches a verified client certificate whose subject common name
	// or any DNS, email or URI SAN equals it.
	Cert string
	// UID or GID match a peer on a unix socket, by the credentials the
	// kernel reports (SO_PEERCRED: the peer's uid and primary gid).
	UID, GID *int
	Profile  *rules.Profile
}

type peerKey struct{}

// A peer is the kernel's word on who is at the other end of a unix socket.
type peer struct {
	pid, uid, gid int
	err           error
}

// ConnContext records the peer credentials of unix-socket connections; set
// it as http.Server.ConnContext.
func ConnContext(ctx context.Context, c net.Conn) context.Context {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return ctx
	}
	p := peerCred(uc)
	return context.WithValue(ctx, peerKey{}, &p)
}

// identify returns who made r and that client's profile; the profile is nil
// for a client no entry names, who may do nothing.
func (rs *ruleSet) identify(r *http.Request) (*auth.Identity, string, *rules.Profile) {
	if r.TLS != nil && len(r.TLS.VerifiedChains) > 0 && len(r.TLS.PeerCertificates) > 0 {
		cert := r.TLS.PeerCertificates[0]
		names := auth.CertNames(cert)
		for _, c := range rs.clients {
			for _, n := range names {
				if c.Cert != "" && c.Cert == n {
					return &auth.Identity{Name: n, Method: "mtls"}, r.RemoteAddr, c.Profile
				}
			}
		}
		name := cert.Subject.CommonName
		if name == "" && len(names) > 0 {
			name = names[0]
		}
		return &auth.Identity{Name: "cert:" + name, Method: "mtls"}, r.RemoteAddr, nil
	}
	if p, ok := r.Context().Value(peerKey{}).(*peer); ok && p.err == nil {
		from := fmt.Sprintf("pid %d", p.pid)
		uid := &auth.Identity{Name: fmt.Sprintf("uid:%d", p.uid), Method: "peercred", Groups: []string{fmt.Sprintf("gid:%d", p.gid)}}
		for _, c := range rs.clients {
			if c.UID != nil && *c.UID == p.uid {
				return uid, from, c.Profile
			}
		}
		for _, c := range rs.clients {
			if c.GID != nil && *c.GID == p.gid {
				return &auth.Identity{Name: fmt.Sprintf("gid:%d", p.gid), Method: "peercred", Groups: uid.Groups}, from, c.Profile
			}
		}
		return uid, from, nil
	}
	return &auth.Identity{Name: "unidentified", Method: "none"}, r.RemoteAddr, nil
}
