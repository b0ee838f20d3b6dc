package dockerguard

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
)

// What gatehouse adds to a request: GET /containers/json (a real dockerd
// answer) straight to the daemon's socket and through gatehouse over mTLS
// with keep-alive, one request at a time.
func BenchmarkContainerList(b *testing.B) {
	e := newEnv(b)
	direct := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.d.socket)
	}}}
	cert, err := tls.LoadX509KeyPair(filepath.Join(e.certs[roClient], "cert.pem"), filepath.Join(e.certs[roClient], "key.pem"))
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(e.g.caPEM)
	guarded := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{cert}}}}
	for _, c := range []struct {
		name, url string
		client    *http.Client
	}{{"direct", "http://docker/v1.41/containers/json", direct}, {"gatehouse", "https://" + e.g.addr + "/v1.41/containers/json", guarded}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				resp, err := c.client.Get(c.url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body) // so the connection is reused
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
}
