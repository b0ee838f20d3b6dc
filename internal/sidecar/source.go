// Package sidecar puts credentials on requests to an authenticated GOPROXY:
// token sources (static, exec, Google service-account key, GCP metadata
// server, GitHub Actions OIDC) and a loopback reverse proxy that adds the
// token to every request it forwards.
package sidecar

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// A Source hands out the current token, refreshing it as needed. It is safe
// for concurrent use. Errors never contain the token.
type Source interface {
	Token(ctx context.Context) (string, error)
	// Kind names the source for logs and error messages: "file", "exec", ...
	Kind() string
}

// fetchFunc gets a fresh token and the time it stops being valid (zero if
// unknown).
type fetchFunc func(ctx context.Context) (token string, expiry time.Time, err error)

// retryAfterFailure spaces out refresh attempts while the old token lasts.
const retryAfterFailure = 5 * time.Second

// cached is a Source that reuses a fetched token until it is due for
// refresh: a quarter of its lifetime (at most five minutes) before it
// expires, so a request never leaves with a token about to lapse.
type cached struct {
	kind  string
	fetch fetchFunc
	ttl   time.Duration // reuse a token at most this long (0: as long as it is valid)
	now   func() time.Time

	mu        sync.Mutex // held across a fetch, so concurrent requests share one
	token     string
	expiry    time.Time
	refreshAt time.Time
}

func (c *cached) Kind() string { return c.kind }

func (c *cached) Token(ctx context.Context) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if c.token != "" && now.Before(c.refreshAt) {
		return c.token, nil
	}
	tok, exp, err := c.fetch(ctx)
	if err == nil {
		err = checkToken(tok)
	}
	if err != nil {
		// A token that is due for refresh but not yet expired still works;
		// try again in a few seconds rather than on every request.
		if c.token != "" && now.Before(c.expiry) {
			c.refreshAt = now.Add(retryAfterFailure)
			if c.expiry.Before(c.refreshAt) {
				c.refreshAt = c.expiry
			}
			return c.token, nil
		}
		return "", err
	}
	c.token, c.expiry, c.refreshAt = tok, exp, exp
	if !exp.IsZero() {
		c.refreshAt = exp.Add(-min(exp.Sub(now)/4, 5*time.Minute))
	}
	if c.ttl > 0 && (c.refreshAt.IsZero() || now.Add(c.ttl).Before(c.refreshAt)) {
		c.refreshAt = now.Add(c.ttl)
	}
	if c.expiry.IsZero() {
		c.expiry = c.refreshAt
	}
	return tok, nil
}

// checkToken refuses what cannot be sent in a header. The message never
// quotes the token.
func checkToken(tok string) error {
	if tok == "" {
		return errors.New("the token is empty")
	}
	if !httpguts.ValidHeaderFieldValue(tok) || strings.ContainsAny(tok, " \t") {
		return errors.New("the token contains spaces or characters not allowed in an HTTP header")
	}
	return nil
}

// jwtExpiry returns the exp claim of a JWT, read without verifying it: the
// token came from a source we trust and only its lifetime is wanted here.
// It returns the zero time for anything that is not a JWT with an exp.
func jwtExpiry(tok string) time.Time {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}
	}
	var claims struct {
		Exp json.Number `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return time.Time{}
	}
	exp, err := claims.Exp.Int64()
	if err != nil || exp <= 0 {
		return time.Time{}
	}
	return time.Unix(exp, 0)
}

// Options selects and configures one token source.
type Options struct {
	TokenEnv      string        // name of an environment variable holding the token
	TokenFile     string        // file holding the token, re-read when it changes
	TokenExec     string        // command (space-separated words) printing the token
	TokenExecTTL  time.Duration // how long the command's token is reused
	GoogleKey     string        // Google service-account JSON key file
	GCPMetadata   bool          // the GCP metadata server's ID token
	GitHubActions bool          // the GitHub Actions OIDC token
	Audience      string        // ID token audience (google-key, gcp-metadata, github-actions)

	Getenv func(string) string // defaults to os.Getenv
}

// ErrNoSource is returned by NewSource when no token source is configured.
var ErrNoSource = errors.New("no token source: set one of token-env, token-file, token-exec, google-key, gcp-metadata, github-actions")

// NewSource returns the one source o configures.
func NewSource(o Options) (Source, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = osGetenv
	}
	var set []string
	for _, s := range []struct {
		name string
		on   bool
	}{
		{"token-env", o.TokenEnv != ""}, {"token-file", o.TokenFile != ""}, {"token-exec", o.TokenExec != ""},
		{"google-key", o.GoogleKey != ""}, {"gcp-metadata", o.GCPMetadata}, {"github-actions", o.GitHubActions},
	} {
		if s.on {
			set = append(set, s.name)
		}
	}
	switch len(set) {
	case 0:
		return nil, ErrNoSource
	case 1:
	default:
		return nil, fmt.Errorf("choose one token source, not %s", strings.Join(set, " and "))
	}
	needAudience := func(kind string) error {
		if o.Audience == "" {
			return fmt.Errorf("%s needs an audience (the URL gatehouse expects in the ID token's aud)", kind)
		}
		return nil
	}
	switch {
	case o.TokenEnv != "":
		return NewEnvSource(o.TokenEnv, getenv)
	case o.TokenFile != "":
		return NewFileSource(o.TokenFile)
	case o.TokenExec != "":
		return NewExecSource(o.TokenExec, o.TokenExecTTL)
	case o.GoogleKey != "":
		if err := needAudience("google-key"); err != nil {
			return nil, err
		}
		return NewGoogleKeySource(o.GoogleKey, o.Audience)
	case o.GCPMetadata:
		if err := needAudience("gcp-metadata"); err != nil {
			return nil, err
		}
		return NewMetadataSource(o.Audience), nil
	default:
		if err := needAudience("github-actions"); err != nil {
			return nil, err
		}
		return NewGitHubActionsSource(o.Audience, getenv)
	}
}
