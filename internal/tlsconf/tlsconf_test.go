package tlsconf

import (
	"crypto/tls"
	"io"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testpki"
)

// handshake connects to ln with cfg and returns the server's leaf certificate
// serial, or the handshake error.
func handshake(t *testing.T, addr string, cfg *tls.Config) (string, error) {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	// With TLS 1.3 a refused client certificate surfaces on first read.
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	// The server writes one byte only after a successful handshake.
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		return "", err
	}
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

func serve(t *testing.T, cfg *tls.Config) string {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				if c.(*tls.Conn).Handshake() == nil {
					c.Write([]byte("k"))
				}
				c.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func TestReloadAndClientCerts(t *testing.T) {
	dir := t.TempDir()
	ca := testpki.NewCA(t, "server CA")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	clients := testpki.NewCA(t, "client CA")
	clientCA := clients.WriteCA(t, dir, "clients.pem")
	cfg, err := Server(Options{CertFile: certFile, KeyFile: keyFile, ClientCA: clientCA, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", cfg.MinVersion)
	}
	addr := serve(t, cfg)
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}

	first, err := handshake(t, addr, client)
	if err != nil {
		t.Fatal(err)
	}
	// TLS 1.1 is refused.
	if _, err := handshake(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MaxVersion: tls.VersionTLS11}); err == nil {
		t.Error("TLS 1.1 handshake succeeded")
	}
	// A client certificate from the client CA is accepted; one from
	// another CA is refused.
	good := clients.Client(t, "ci").TLS(t)
	if _, err := handshake(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", Certificates: []tls.Certificate{good}}); err != nil {
		t.Errorf("valid client cert: %v", err)
	}
	rogue := testpki.NewCA(t, "rogue").Client(t, "ci").TLS(t)
	// (Forced: a client offers only certificates from the CAs the server names.)
	force := func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &rogue, nil }
	if _, err := handshake(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", GetClientCertificate: force}); err == nil {
		t.Error("client cert of another CA accepted")
	}

	// Rotation: new files are picked up without a restart.
	time.Sleep(1100 * time.Millisecond)
	ca.Server(t).WriteFiles(t, dir, "server")
	second, err := handshake(t, addr, client)
	if err != nil {
		t.Fatal(err)
	}
	if second == first {
		t.Error("certificate not reloaded after the files changed")
	}
	// A broken pair is not loaded; the last good one stays.
	time.Sleep(1100 * time.Millisecond)
	os.WriteFile(keyFile, []byte("garbage"), 0o600)
	third, err := handshake(t, addr, client)
	if err != nil || third != second {
		t.Errorf("after a broken rotation: %s, %v; want the previous certificate", third, err)
	}
}

func TestServerErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Server(Options{CertFile: dir + "/none.crt", KeyFile: dir + "/none.key"}); err == nil {
		t.Error("missing files accepted")
	}
	if _, err := Server(Options{CertFile: "x"}); err == nil {
		t.Error("missing key accepted")
	}
	ca := testpki.NewCA(t, "ca")
	c, k := ca.Server(t).WriteFiles(t, dir, "s")
	os.WriteFile(dir+"/empty.pem", nil, 0o600)
	if _, err := Server(Options{CertFile: c, KeyFile: k, ClientCA: dir + "/empty.pem"}); err == nil {
		t.Error("empty client CA accepted")
	}
}
