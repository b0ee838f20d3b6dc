package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/gatehouse-dev/gatehouse/internal/flight"
	"github.com/gatehouse-dev/gatehouse/internal/retry"
)

// Size limits for the small artifacts, as in cmd/go's modfetch.
const (
	maxInfoSize = 1 << 20  // .info and @latest
	maxModSize  = 16 << 20 // go.mod
	maxListSize = 16 << 20 // @v/list
)

// Proxy is one GOPROXY-protocol server.
type Proxy struct {
	base   string // without trailing slash
	shown  string // base without its credentials, for errors and logs
	client *http.Client

	// Retry says how a request that failed on a connection error or a
	// 5xx is tried again; zero: retry.Default.
	Retry  retry.Policy
	Logger *slog.Logger // nil: slog.Default()
}

// NewProxy returns a Source that reads from the proxy at base.
func NewProxy(base string, client *http.Client) (*Proxy, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("upstream %q is not an http(s) URL", base)
	}
	if client == nil {
		client = http.DefaultClient
	}
	return &Proxy{base: strings.TrimSuffix(base, "/"), shown: strings.TrimSuffix(Shown(u), "/"), client: noDowngrade(client)}, nil
}

// ShownString is Shown of a URL string; one that does not parse is not shown.
func ShownString(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return Shown(u)
}

// Shown returns u without its userinfo: a user name may be a token as
// much as a password is, so neither goes into a log or an error.
func Shown(u *url.URL) string {
	c := *u
	c.User = nil
	return c.String()
}

// noDowngrade returns a copy of client that, as the go command does, never
// follows a redirect from https to plain http: that would hand whoever is
// on the path the bytes (and credentials) https was chosen to protect.
func noDowngrade(client *http.Client) *http.Client {
	c := *client
	next := client.CheckRedirect
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if via[0].URL.Scheme == "https" && req.URL.Scheme != "https" {
			return fmt.Errorf("redirected from secure URL %s to insecure URL %s", via[len(via)-1].URL.Redacted(), req.URL.Redacted())
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
	return &c
}

// URL returns the proxy's base URL.
func (p *Proxy) URL() string { return p.base }

// StatusError is a non-200 answer from an upstream.
type StatusError struct {
	URL    string
	Status int
	Body   string // first line of the body, for logs
}

func (e *StatusError) Error() string {
	s := fmt.Sprintf("%s: %d %s", e.URL, e.Status, http.StatusText(e.Status))
	if e.Body != "" {
		s += ": " + e.Body
	}
	return s
}

// HTTPStatusCode lets retry tell a 5xx (tried again) from a 4xx (final).
func (e *StatusError) HTTPStatusCode() int { return e.Status }

// Is makes 404 and 410 match ErrNotFound.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && (e.Status == http.StatusNotFound || e.Status == http.StatusGone)
}

// get fetches path under the proxy and returns the open body of a 200,
// trying again on connection errors and 5xx answers.
func (p *Proxy) get(ctx context.Context, path string) (body io.ReadCloser, err error) {
	err = p.retry(ctx, path, func(ctx context.Context) error {
		body, err = p.getOnce(ctx, path)
		return err
	})
	return body, err
}

// retry runs try under the proxy's retry policy, logging each failure
// that is tried again with the upstream it came from.
func (p *Proxy) retry(ctx context.Context, path string, try func(context.Context) error) error {
	policy := p.Retry
	if policy.Attempts == 0 {
		policy = retry.Default
	}
	log := p.Logger
	if log == nil {
		log = slog.Default()
	}
	return policy.Do(ctx, try, func(attempt int, wait time.Duration, err error) {
		log.Warn("upstream request failed; trying again", "upstream", p.shown, "path", path, "attempt", attempt, "wait", wait.Round(time.Millisecond), "err", err)
	})
}

func (p *Proxy) getOnce(ctx context.Context, path string) (io.ReadCloser, error) {
	u := p.base + path
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, fmt.Errorf("%s%s: invalid request", p.shown, path)
	}
	flight.Start(ctx) // the request goes out: let it finish and be stored
	resp, err := p.client.Do(req)
	if err != nil {
		// The client's *url.Error names the URL with its user name.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s%s: %w", p.shown, path, err)
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		line, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		first, _, _ := strings.Cut(string(line), "\n")
		return nil, &StatusError{URL: p.shown + path, Status: resp.StatusCode, Body: strings.TrimSpace(first)}
	}
	return resp.Body, nil
}

// getSmall reads a small answer whole; a connection that breaks off in
// the body is tried again like one that fails before it.
func (p *Proxy) getSmall(ctx context.Context, path string, limit int64) (data []byte, err error) {
	err = p.retry(ctx, path, func(ctx context.Context) error {
		body, err := p.getOnce(ctx, path)
		if err != nil {
			return err
		}
		defer body.Close()
		data, err = io.ReadAll(io.LimitReader(body, limit+1))
		if err != nil {
			return fmt.Errorf("%s%s: %w", p.shown, path, err)
		}
		if int64(len(data)) > limit {
			return fmt.Errorf("%s%s: response larger than %d bytes", p.shown, path, limit)
		}
		return nil
	})
	return data, err
}

func escape(path, version string) (string, error) {
	ep, err := module.EscapePath(path)
	if err != nil {
		return "", err
	}
	if version == "" {
		return "/" + ep, nil
	}
	ev, err := module.EscapeVersion(version)
	if err != nil {
		return "", err
	}
	return "/" + ep + "/@v/" + ev, nil
}

func (p *Proxy) List(ctx context.Context, path string) ([]string, error) {
	ep, err := escape(path, "")
	if err != nil {
		return nil, err
	}
	data, err := p.getSmall(ctx, ep+"/@v/list", maxListSize)
	if err != nil {
		return nil, err
	}
	var list []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			list = append(list, f[0])
		}
	}
	return list, nil
}

func (p *Proxy) Latest(ctx context.Context, path string) ([]byte, error) {
	ep, err := escape(path, "")
	if err != nil {
		return nil, err
	}
	return p.getSmall(ctx, ep+"/@latest", maxInfoSize)
}

func (p *Proxy) Info(ctx context.Context, path, version string) ([]byte, error) {
	ep, err := escape(path, version)
	if err != nil {
		return nil, err
	}
	return p.getSmall(ctx, ep+".info", maxInfoSize)
}

func (p *Proxy) GoMod(ctx context.Context, path, version string) ([]byte, error) {
	ep, err := escape(path, version)
	if err != nil {
		return nil, err
	}
	return p.getSmall(ctx, ep+".mod", maxModSize)
}

func (p *Proxy) Zip(ctx context.Context, path, version string) (io.ReadCloser, error) {
	ep, err := escape(path, version)
	if err != nil {
		return nil, err
	}
	return p.get(ctx, ep+".zip")
}

// IsNotFound reports whether err means "not here" (404/410).
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }
