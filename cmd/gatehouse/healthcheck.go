package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// healthcheck exists because the container image has no shell and no
// curl: Docker's HEALTHCHECK runs the binary itself.
func init() {
	register(&command{
		name:    "healthcheck",
		summary: "GET a gatehouse /healthz and exit 0 if it answers 200, 1 if not (for HEALTHCHECK)",
		run:     runHealthcheck,
	})
}

const defaultHealthURL = "http://127.0.0.1:3000/healthz"

func runHealthcheck(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "healthcheck", "healthcheck [--url URL] [--timeout DURATION]\n\nGETs URL and exits 0 on 200 OK, 1 otherwise: the container image's HEALTHCHECK.\nThe default URL is $GATEHOUSE_HEALTHCHECK_URL, or "+defaultHealthURL+".")
	def := env.getenv("GATEHOUSE_HEALTHCHECK_URL")
	if def == "" {
		def = defaultHealthURL
	}
	target := fs.String("url", def, "`URL` to GET: serve's /healthz, or sidecar's or docker's listener")
	timeout := fs.Duration("timeout", 5*time.Second, "how long (`duration`) to wait for the answer")
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "gatehouse healthcheck: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if u, err := url.Parse(*target); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		fmt.Fprintf(env.stderr, "gatehouse healthcheck: --url %q is not an http(s) URL\n", *target)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", *target, nil)
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse healthcheck:", err)
		return 2
	}
	// No proxy from the environment: the check is of this host's server.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse healthcheck: unhealthy:", err)
		return 1
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(env.stderr, "gatehouse healthcheck: unhealthy: %s answered %s\n", *target, resp.Status)
		return 1
	}
	fmt.Fprintln(env.stdout, "healthy")
	return 0
}
