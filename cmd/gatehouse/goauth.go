package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/sidecar"
)

func init() {
	register(&command{
		name:    "goauth",
		summary: "credential helper for the go command's GOAUTH (Go 1.24+)",
		run:     runGoAuth,
	})
}

const goauthSynopsis = `goauth --upstream https://URL <token source> [flags] [URL]

A GOAUTH command (see 'go help goauth'): prints the Authorization header the
go command should send to URLs under --upstream, from the same token sources
as gatehouse sidecar. No daemon needed:

  export GOPROXY=https://gatehouse.corp.example
  export GOAUTH='gatehouse goauth --config /home/me/.config/gatehouse/client.toml'

go runs it with no argument before its first https request, and again with
the URL and the server's response on stdin after a 4xx. Every flag is also an
environment variable and a key of the --config file (docs/client-setup.md).`

func runGoAuth(ctx context.Context, env *cmdEnv, args []string) int {
	cfg := config.DefaultClient()
	fs := newFlagSet(env, "goauth", goauthSynopsis)
	keys := cfg.GoAuthKeys()
	configFile := config.Bind(fs, keys)
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 1 {
		fmt.Fprintf(env.stderr, "gatehouse goauth: unexpected argument %q\n", fs.Arg(1))
		return 2
	}
	if err := config.Load(fs, keys, *configFile, cfg, env.getenv); err != nil {
		fmt.Fprintln(env.stderr, "gatehouse goauth: "+err.Error())
		return 2
	}
	if err := cfg.ValidateGoAuth(); err != nil {
		fmt.Fprintln(env.stderr, "gatehouse goauth: "+err.Error())
		return 2
	}
	prefix := strings.TrimSuffix(string(cfg.Upstream), "/")
	if fs.NArg() == 1 {
		// go writes the failed response to stdin; it tells us nothing a
		// fresh token would not fix, but read it so go's write never fails.
		if env.stdin != nil {
			io.Copy(io.Discard, io.LimitReader(env.stdin, 1<<20))
		}
		if u := fs.Arg(0); u != prefix && !strings.HasPrefix(u, prefix+"/") {
			return 0 // not ours: no credentials
		}
	}
	src, err := clientSource(cfg, env.getenv)
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse goauth: "+err.Error())
		return 1
	}
	tok, err := src.Token(ctx)
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse goauth: "+err.Error())
		return 1
	}
	fmt.Fprintf(env.stdout, "%s\n\nAuthorization: %s\n\n", prefix, sidecar.AuthHeader(tok, string(cfg.BasicUser)))
	return 0
}
