package sidecar

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"sync"
	"time"
)

// TLSOptions are the settings of the connection to the upstream.
type TLSOptions struct {
	CAFile     string // PEM CA certificates trusted besides the system's
	ClientCert string // PEM client certificate for mutual TLS
	ClientKey  string // its PEM private key
}

// NewTransport returns the upstream transport: TLS verification always on,
// TLS 1.2 at least, idle connections kept for reuse, and the client
// certificate re-read when its files change (rotation without a restart).
func NewTransport(o TLSOptions) (*http.Transport, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca-file: %v", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca-file %s: no PEM certificates in it", o.CAFile)
		}
		cfg.RootCAs = pool
	}
	if (o.ClientCert == "") != (o.ClientKey == "") {
		return nil, errors.New("client-cert and client-key go together: give both or neither")
	}
	if o.ClientCert != "" {
		l := &certLoader{certFile: o.ClientCert, keyFile: o.ClientKey}
		if _, err := l.load(); err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return l.load() }
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = cfg
	t.MaxIdleConnsPerHost = 32
	t.ResponseHeaderTimeout = 5 * time.Minute
	return t, nil
}

// certLoader keeps a client key pair, reloading it when either file's
// modification time changes.
type certLoader struct {
	certFile, keyFile string

	mu              sync.Mutex
	cert            *tls.Certificate
	certMod, keyMod time.Time
}

func (l *certLoader) load() (*tls.Certificate, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	cs, err1 := os.Stat(l.certFile)
	ks, err2 := os.Stat(l.keyFile)
	if err := errors.Join(err1, err2); err != nil {
		if l.cert != nil {
			return l.cert, nil // mid-rotation; keep the last good pair
		}
		return nil, fmt.Errorf("client certificate: %v", err)
	}
	if l.cert != nil && cs.ModTime().Equal(l.certMod) && ks.ModTime().Equal(l.keyMod) {
		return l.cert, nil
	}
	c, err := tls.LoadX509KeyPair(l.certFile, l.keyFile)
	if err != nil {
		if l.cert != nil {
			return l.cert, nil
		}
		return nil, fmt.Errorf("client certificate %s: %v", l.certFile, err)
	}
	l.cert, l.certMod, l.keyMod = &c, cs.ModTime(), ks.ModTime()
	return l.cert, nil
}
