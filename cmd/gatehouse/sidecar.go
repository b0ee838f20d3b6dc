package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/sidecar"
)

func init() {
	register(&command{
		name:    "sidecar",
		summary: "local GOPROXY that adds credentials in front of an authenticated gatehouse",
		run:     runSidecar,
	})
}

const sidecarSynopsis = `sidecar --upstream URL <token source> [flags]

Serves a GOPROXY on loopback that forwards every request to --upstream with
credentials added, so they never appear in GOPROXY, go env or error messages:

  gatehouse sidecar --upstream https://gatehouse.corp.example --token-file ~/.config/gatehouse/token
  GOPROXY=http://127.0.0.1:9090 go build ./...

Give exactly one token source (token-env, token-file, token-exec, google-key,
gcp-metadata, github-actions), and/or --client-cert/--client-key for mutual TLS.
Every flag is also an environment variable and a key of the TOML file given
with --config (see docs/client-setup.md).`

func runSidecar(ctx context.Context, env *cmdEnv, args []string) int {
	cfg := config.DefaultClient()
	fs := newFlagSet(env, "sidecar", sidecarSynopsis)
	keys := cfg.SidecarKeys()
	configFile := config.Bind(fs, keys)
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "gatehouse sidecar: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if err := config.Load(fs, keys, *configFile, cfg, env.getenv); err != nil {
		fmt.Fprintln(env.stderr, "gatehouse sidecar: "+err.Error())
		return 2
	}
	if err := cfg.ValidateSidecar(); err != nil {
		fmt.Fprintln(env.stderr, "gatehouse sidecar: "+err.Error())
		return 2
	}
	src, err := clientSource(cfg, env.getenv)
	if errors.Is(err, sidecar.ErrNoSource) && cfg.ClientCert != "" {
		src, err = nil, nil // mutual TLS alone
	}
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse sidecar: "+err.Error())
		return 2
	}
	transport, err := sidecar.NewTransport(sidecar.TLSOptions{
		CAFile: string(cfg.CAFile), ClientCert: string(cfg.ClientCert), ClientKey: string(cfg.ClientKey),
	})
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse sidecar: "+err.Error())
		return 2
	}
	log := newLogger(env.stderr, string(cfg.LogFormat), string(cfg.LogLevel))
	upstream, _ := url.Parse(string(cfg.Upstream)) // checked by ValidateSidecar
	handler := sidecar.NewProxy(sidecar.ProxyOptions{
		Upstream: upstream, Source: src, BasicUser: string(cfg.BasicUser),
		Transport: transport, AllowRemote: bool(cfg.AllowRemote), Logger: log,
	})

	ln, err := net.Listen("tcp", string(cfg.Listen))
	if err != nil {
		log.Error("cannot listen", "err", err)
		return 1
	}
	kind := "none"
	if src != nil {
		kind = src.Kind()
	}
	for _, f := range []string{string(cfg.TokenFile), string(cfg.GoogleKey), string(cfg.ClientKey)} {
		if fi, err := os.Stat(f); f != "" && err == nil && fi.Mode().Perm()&0o077 != 0 {
			log.Warn("secret file is readable by other users; chmod 600 it", "file", f, "mode", fi.Mode().Perm().String())
		}
	}
	if src != nil {
		// Try the source once, so a broken setup shows in the log at start
		// rather than only in the first client's 502. Not fatal: a metadata
		// server or token endpoint may come up after the sidecar.
		probe, cancel := context.WithTimeout(ctx, 10*time.Second)
		if _, err := src.Token(probe); err != nil {
			log.Warn("token source not working yet; requests get 502 until it does", "source", src.Kind(), "err", err)
		}
		cancel()
	}
	if h := upstream.Hostname(); upstream.Scheme == "http" && !auth.IsLoopbackListen(net.JoinHostPort(h, "0")) {
		log.Warn("upstream is plain http: the credentials cross the network in the clear; use https", "upstream", upstream.String())
	}
	log.Info("gatehouse sidecar serving", "listen", ln.Addr().String(), "upstream", upstream.String(),
		"token_source", kind, "mtls", cfg.ClientCert != "", "version", buildVersion())

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 30 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		log.Error("server stopped", "err", err)
		return 1
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	srv.Shutdown(shutdown)
	log.Info("stopped")
	return 0
}

// clientSource builds the token source the client configuration names.
func clientSource(cfg *config.Client, getenv func(string) string) (sidecar.Source, error) {
	return sidecar.NewSource(sidecar.Options{
		TokenEnv:      string(cfg.TokenEnv),
		TokenFile:     string(cfg.TokenFile),
		TokenExec:     string(cfg.TokenExec),
		TokenExecTTL:  time.Duration(cfg.TokenExecTTL),
		GoogleKey:     string(cfg.GoogleKey),
		GCPMetadata:   bool(cfg.GCPMetadata),
		GitHubActions: bool(cfg.GitHubActions),
		Audience:      string(cfg.Audience),
		Getenv:        getenv,
	})
}
