package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/mod/module"
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
	shown  string // base without its password, for errors and logs
	client *http.Client
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
	return &Proxy{base: strings.TrimSuffix(base, "/"), shown: strings.TrimSuffix(u.Redacted(), "/"), client: noDowngrade(client)}, nil
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

// Is makes 404 and 410 match ErrNotFound.
func (e *StatusError) Is(target error) bool {
	return target == ErrNotFound && (e.Status == http.StatusNotFound || e.Status == http.StatusGone)
}

// get fetches path under the proxy and returns the open body of a 200.
func (p *Proxy) get(ctx context.Context, path string) (io.ReadCloser, error) {
	u := p.base + path
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		line, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		first, _, _ := strings.Cut(string(line), "\n")
		return nil, &StatusError{URL: p.shown + path, Status: resp.StatusCode, Body: strings.TrimSpace(first)}
	}
	return resp.Body, nil
}

func (p *Proxy) getSmall(ctx context.Context, path string, limit int64) ([]byte, error) {
	body, err := p.get(ctx, path)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	data, err := io.ReadAll(io.LimitReader(body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s%s: %w", p.shown, path, err)
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s%s: response larger than %d bytes", p.shown, path, limit)
	}
	return data, nil
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
