// Package tlsconf builds server TLS configurations: TLS 1.2 at least, a
// certificate that is reloaded when its files change (rotation without a
// restart), and optional client certificates verified against a CA.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Options names the files of a server's TLS setup.
type Options struct {
	CertFile, KeyFile string // PEM; both required
	// ClientCA, if set, is a PEM bundle of CAs whose client certificates
	// are verified. Clients without a certificate may still connect (and
	// authenticate otherwise); a certificate that does not verify fails
	// the handshake.
	ClientCA string
	Logger   *slog.Logger
}

// Server returns a TLS configuration for opts. It fails if the files
// cannot be loaded now.
func Server(opts Options) (*tls.Config, error) {
	if opts.CertFile == "" || opts.KeyFile == "" {
		return nil, errors.New("tls: both a certificate and a key file are needed")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	r := &reloader{certFile: opts.CertFile, keyFile: opts.KeyFile, log: opts.Logger, now: time.Now}
	if err := r.load(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.get,
	}
	if opts.ClientCA != "" {
		pem, err := os.ReadFile(opts.ClientCA)
		if err != nil {
			return nil, fmt.Errorf("tls: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: client CA %s holds no PEM certificates", opts.ClientCA)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// reloader serves the certificate and loads it again when the files'
// modification times or sizes change, checking at most once a second. A
// bad new pair is logged and the old one stays in use.
type reloader struct {
	certFile, keyFile string
	log               *slog.Logger
	now               func() time.Time

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     string
	checkedAt time.Time
}

func stampOf(files ...string) (string, error) {
	s := ""
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil {
			return "", err
		}
		s += fmt.Sprintf("%d/%d;", st.ModTime().UnixNano(), st.Size())
	}
	return s, nil
}

func (r *reloader) load() error {
	stamp, err := stampOf(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: %w", err)
	}
	c, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls: loading %s and %s: %w", r.certFile, r.keyFile, err)
	}
	r.mu.Lock()
	r.cert, r.stamp, r.checkedAt = &c, stamp, r.now()
	r.mu.Unlock()
	return nil
}

func (r *reloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	due := r.now().Sub(r.checkedAt) >= time.Second
	if due {
		r.checkedAt = r.now()
	}
	cert, old := r.cert, r.stamp
	r.mu.Unlock()
	if !due {
		return cert, nil
	}
	if stamp, err := stampOf(r.certFile, r.keyFile); err == nil && stamp != old {
		if err := r.load(); err != nil {
			// Half-written files during a rotation land here too; the
			// next check a second later sees the finished pair.
			r.log.Warn("TLS certificate changed but cannot be loaded; keeping the old one", "err", err)
			return cert, nil
		}
		r.log.Info("TLS certificate reloaded", "cert", r.certFile)
		r.mu.Lock()
		cert = r.cert
		r.mu.Unlock()
	}
	return cert, nil
}
