package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// jwksCache is an oidc.KeySet that fetches an issuer's JWKS, caches it,
// and fetches it again when a token names a key it does not hold (the
// issuer rotated its keys) or when the copy is old. Unlike go-oidc's
// RemoteKeySet it refetches at most once per minRefresh on unknown keys,
// so a flood of forged tokens cannot turn gatehouse into a flood of
// requests to the issuer.
type jwksCache struct {
	url        string
	client     *http.Client
	minRefresh time.Duration // least time between fetches caused by unknown keys
	maxAge     time.Duration // a copy older than this is fetched again (keys the issuer withdrew stop working)
	now        func() time.Time

	mu        sync.Mutex
	keys      []jose.JSONWebKey
	fetchedAt time.Time
	inflight  chan struct{} // closed when the running fetch ends
}

func newJWKSCache(url string, client *http.Client) *jwksCache {
	return &jwksCache{url: url, client: client, minRefresh: 10 * time.Second, maxAge: time.Hour, now: time.Now}
}

var jwsAlgs = func() []jose.SignatureAlgorithm {
	var out []jose.SignatureAlgorithm
	for a := range allowedAlgs {
		out = append(out, jose.SignatureAlgorithm(a))
	}
	return out
}()

// VerifySignature implements oidc.KeySet. go-oidc has already checked the
// algorithm against the issuer's list before calling it.
func (c *jwksCache) VerifySignature(ctx context.Context, raw string) ([]byte, error) {
	jws, err := jose.ParseSigned(raw, jwsAlgs)
	if err != nil {
		return nil, fmt.Errorf("malformed jwt: %v", err)
	}
	if len(jws.Signatures) != 1 {
		return nil, errors.New("jwt must have exactly one signature")
	}
	kid := jws.Signatures[0].Header.KeyID
	c.mu.Lock()
	keys, age := c.keys, c.now().Sub(c.fetchedAt)
	c.mu.Unlock()
	if age < c.maxAge {
		if p, ok := verifyWith(jws, kid, keys); ok {
			return p, nil
		}
		if age < c.minRefresh {
			return nil, errors.New("failed to verify id token signature")
		}
	}
	keys, err = c.refresh(ctx)
	if err != nil {
		return nil, err
	}
	if p, ok := verifyWith(jws, kid, keys); ok {
		return p, nil
	}
	return nil, errors.New("failed to verify id token signature")
}

func verifyWith(jws *jose.JSONWebSignature, kid string, keys []jose.JSONWebKey) ([]byte, bool) {
	for i := range keys {
		if kid != "" && keys[i].KeyID != kid {
			continue
		}
		if p, err := jws.Verify(&keys[i]); err == nil {
			return p, true
		}
	}
	return nil, false
}

// refresh fetches the key set, or waits for a fetch already running.
func (c *jwksCache) refresh(ctx context.Context) ([]jose.JSONWebKey, error) {
	c.mu.Lock()
	if ch := c.inflight; ch != nil {
		c.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.keys, nil
	}
	// Someone else may have fetched while we waited for the lock.
	if c.now().Sub(c.fetchedAt) < c.minRefresh {
		defer c.mu.Unlock()
		return c.keys, nil
	}
	ch := make(chan struct{})
	c.inflight = ch
	c.mu.Unlock()

	keys, err := c.fetch(context.WithoutCancel(ctx))

	c.mu.Lock()
	defer c.mu.Unlock()
	c.inflight = nil
	close(ch)
	// A failed fetch also counts, so an unreachable issuer is not retried
	// on every request.
	c.fetchedAt = c.now()
	if err != nil {
		return c.keys, fmt.Errorf("fetching keys: %w", err)
	}
	c.keys = keys
	return keys, nil
}

func (c *jwksCache) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", c.url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", c.url, resp.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("%s: %v", c.url, err)
	}
	var keys []jose.JSONWebKey
	for _, k := range set.Keys {
		if k.Valid() && k.IsPublic() && (k.Use == "" || k.Use == "sig") {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%s holds no public signing keys", c.url)
	}
	return keys, nil
}
