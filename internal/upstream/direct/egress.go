package direct

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Hosts is the list of hosts a private fetch may contact. An entry is a
// host name ("git.corp.example", port 443), a host and port
// ("git.corp.example:8443"), or a wildcard for subdomains ("*.corp.example").
type Hosts []string

// Allows reports whether host (with or without a port) is on the list.
// Without a port, any entry for the host matches (for module paths).
func (h Hosts) Allows(hostport string) bool {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		host, port = hostport, ""
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if host == "" {
		return false
	}
	for _, e := range h {
		eh, ep, err := net.SplitHostPort(e)
		if err != nil {
			eh, ep = e, "443"
		}
		eh = strings.ToLower(eh)
		if port != "" && port != ep {
			continue
		}
		if eh == host {
			return true
		}
		if suffix, ok := strings.CutPrefix(eh, "*."); ok && strings.HasSuffix(host, "."+suffix) {
			return true
		}
	}
	return false
}

// Egress is the forward proxy that every private fetch's child go and git
// must use (HTTPS_PROXY): it tunnels CONNECTs to hosts on the list and
// refuses everything else, so neither a crafted module path nor a go-import
// tag or HTTP redirect pointing elsewhere can make gatehouse reach another
// host. Tunnels go out directly, or through the proxy gatehouse itself was
// given in its environment (HTTPS_PROXY).
type Egress struct {
	Hosts  Hosts
	Proxy  func(*http.Request) (*url.URL, error) // the parent proxy; nil: http.ProxyFromEnvironment
	Logger *slog.Logger
	// Timeout bounds one tunnel's whole life.
	Timeout time.Duration

	ln     net.Listener
	srv    *http.Server
	wg     sync.WaitGroup
	secret string // the proxy password: only the children that were given it may tunnel

	lastDialFailure atomic.Int64 // unix nanos: when a listed host last could not be reached
}

// dialFailedWithin reports whether a listed host could not be reached in
// the last d. The go command reports an unreachable repository at a
// VCS-qualified path as it reports a missing one ("no secure protocol
// found"); this tells the two apart.
func (e *Egress) dialFailedWithin(d time.Duration) bool {
	t := e.lastDialFailure.Load()
	return t != 0 && time.Since(time.Unix(0, t)) < d
}

// Start listens on a loopback port and returns the proxy URL, which
// carries a random password: any local process can reach the port, but
// only the children given the URL can tunnel through it (and through the
// parent proxy's credentials, if it has some).
func (e *Egress) Start() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	e.secret = rand.Text()
	if e.Proxy == nil {
		e.Proxy = http.ProxyFromEnvironment
	}
	if e.Timeout == 0 {
		e.Timeout = 10 * time.Minute
	}
	e.ln = ln
	e.srv = &http.Server{Handler: e, ReadHeaderTimeout: 10 * time.Second}
	e.wg.Go(func() { e.srv.Serve(ln) })
	return (&url.URL{Scheme: "http", User: url.UserPassword(egressUser, e.secret), Host: ln.Addr().String()}).String(), nil
}

const egressUser = "gatehouse"

// Secret is the proxy password, for redaction from the children's output.
func (e *Egress) Secret() string { return e.secret }

// authorized reports whether r carries the proxy password.
func (e *Egress) authorized(r *http.Request) bool {
	scheme, cred, ok := strings.Cut(r.Header.Get("Proxy-Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Basic") {
		return false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(raw, []byte(egressUser+":"+e.secret)) == 1
}

// Close stops the proxy and its tunnels.
func (e *Egress) Close() error {
	if e.srv == nil {
		return nil
	}
	err := e.srv.Close()
	e.wg.Wait()
	return err
}

func (e *Egress) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Host
	if !e.authorized(r) {
		e.Logger.Warn("private fetch: refused a proxy request without the egress proxy's credentials", "remote", r.RemoteAddr)
		w.Header().Set("Proxy-Authenticate", `Basic realm="gatehouse egress"`)
		http.Error(w, "gatehouse: proxy authentication required", http.StatusProxyAuthRequired)
		return
	}
	if r.Method != http.MethodConnect {
		// Plain-HTTP fetches are refused outright: credentials would travel
		// in clear, and redirects could lead anywhere.
		e.Logger.Warn("private fetch: refused a plain-HTTP request; only https to listed hosts is allowed", "host", r.URL.Host)
		http.Error(w, "gatehouse: only https to hosts on the direct-fetch list is allowed", http.StatusForbidden)
		return
	}
	if !e.Hosts.Allows(target) {
		e.Logger.Warn("private fetch: refused a connection to a host not on the direct-fetch list", "host", target)
		http.Error(w, "gatehouse: "+target+" is not on the direct-fetch list", http.StatusForbidden)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	up, err := e.dial(ctx, target)
	cancel()
	if err != nil {
		e.lastDialFailure.Store(time.Now().UnixNano())
		e.Logger.Warn("private fetch: cannot reach host", "host", target, "err", err)
		http.Error(w, "gatehouse: cannot reach "+target, http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	down, brw, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	deadline := time.Now().Add(e.Timeout)
	up.SetDeadline(deadline)
	down.SetDeadline(deadline)
	io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n")
	var wg sync.WaitGroup
	wg.Go(func() {
		io.Copy(up, brw) // brw holds anything the client sent early
		closeWrite(up)
	})
	io.Copy(down, up)
	closeWrite(down)
	wg.Wait()
	up.Close()
	down.Close()
}

func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	} else {
		c.Close()
	}
}

// dial connects to target directly or through the parent proxy.
func (e *Egress) dial(ctx context.Context, target string) (net.Conn, error) {
	var d net.Dialer
	pu, err := e.Proxy(&http.Request{URL: &url.URL{Scheme: "https", Host: target}})
	if err != nil {
		return nil, err
	}
	if pu == nil {
		return d.DialContext(ctx, "tcp", target)
	}
	if pu.Scheme != "http" {
		return nil, fmt.Errorf("parent proxy scheme %q is not supported (use an http:// proxy)", pu.Scheme)
	}
	addr := pu.Host
	if pu.Port() == "" {
		addr = net.JoinHostPort(pu.Hostname(), "80")
	}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	req := "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n"
	if pu.User != nil {
		pw, _ := pu.User.Password()
		req += "Proxy-Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(pu.User.Username()+":"+pw)) + "\r\n"
	}
	if _, err := io.WriteString(c, req+"\r\n"); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
	if err != nil {
		c.Close()
		return nil, err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("parent proxy refused CONNECT %s: %s", target, resp.Status)
	}
	c.SetDeadline(time.Time{})
	if br.Buffered() > 0 {
		return &bufferedConn{Conn: c, r: br}, nil
	}
	return c, nil
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b *bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
