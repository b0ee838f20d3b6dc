package upstream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
)

// Chain is a list of proxies in GOPROXY syntax. As in cmd/go, the separator
// after an entry says when to try the next one: after ',' only if the entry
// answered 404 or 410, after '|' on any error.
type Chain struct {
	entries []chainEntry
}

type chainEntry struct {
	proxy       *Proxy
	fallThrough bool // '|' follows: try the next entry on any error
}

// ParseChain parses a GOPROXY-syntax list of proxy URLs.
func ParseChain(list string, client *http.Client) (*Chain, error) {
	c := &Chain{}
	for list != "" {
		var entry string
		var fallThrough bool
		if i := strings.IndexAny(list, ",|"); i >= 0 {
			entry, fallThrough, list = list[:i], list[i] == '|', list[i+1:]
			if strings.TrimSpace(list) == "" {
				return nil, errors.New("upstream list ends with a separator")
			}
		} else {
			entry, list = list, ""
		}
		entry = strings.TrimSpace(entry)
		if entry == "" {
			return nil, errors.New("upstream list has an empty entry")
		}
		p, err := NewProxy(entry, client)
		if err != nil {
			return nil, err
		}
		c.entries = append(c.entries, chainEntry{p, fallThrough})
	}
	if len(c.entries) == 0 {
		return nil, errors.New("upstream list is empty")
	}
	return c, nil
}

// First returns the first proxy of the chain.
func (c *Chain) First() *Proxy { return c.entries[0].proxy }

// try calls f on each entry until one succeeds or an error may not fall
// through. When every entry says "not found", the result is ErrNotFound.
func try[T any](c *Chain, f func(*Proxy) (T, error)) (T, error) {
	var zero T
	var errs []error
	for _, e := range c.entries {
		v, err := f(e.proxy)
		if err == nil {
			return v, nil
		}
		errs = append(errs, err)
		if !e.fallThrough && !IsNotFound(err) {
			break
		}
	}
	// Report a real failure over a "not found" from another entry.
	for _, err := range errs {
		if !IsNotFound(err) {
			return zero, err
		}
	}
	return zero, fmt.Errorf("%w: %w", ErrNotFound, errors.Join(errs...))
}

func (c *Chain) List(ctx context.Context, path string) ([]string, error) {
	return try(c, func(p *Proxy) ([]string, error) { return p.List(ctx, path) })
}

func (c *Chain) Latest(ctx context.Context, path string) ([]byte, error) {
	return try(c, func(p *Proxy) ([]byte, error) { return p.Latest(ctx, path) })
}

func (c *Chain) Info(ctx context.Context, path, version string) ([]byte, error) {
	return try(c, func(p *Proxy) ([]byte, error) { return p.Info(ctx, path, version) })
}

func (c *Chain) GoMod(ctx context.Context, path, version string) ([]byte, error) {
	return try(c, func(p *Proxy) ([]byte, error) { return p.GoMod(ctx, path, version) })
}

func (c *Chain) Zip(ctx context.Context, path, version string) (io.ReadCloser, error) {
	return try(c, func(p *Proxy) (io.ReadCloser, error) { return p.Zip(ctx, path, version) })
}

// SetLogger makes every proxy of the chain log its retries to log.
func (c *Chain) SetLogger(log *slog.Logger) {
	for _, e := range c.entries {
		e.proxy.Logger = log
	}
}
