package auth

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testoidc"
)

// Keys are fetched once, again when a token names a new key (rotation),
// but not more often than minRefresh however many forged tokens arrive,
// and again when the copy is older than maxAge.
func TestJWKSCache(t *testing.T) {
	is := testoidc.New(t)
	pool, err := loadPool(is.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfigWithRoots(pool)}}
	c := newJWKSCache(is.URL+"/keys", client)
	now := time.Unix(1_000_000, 0)
	c.now = func() time.Time { return now }
	ctx := context.Background()
	verify := func(tok string) error { _, err := c.VerifySignature(ctx, tok); return err }

	if err := verify(is.Mint(t, is.Claims("a", "b"))); err != nil {
		t.Fatal(err)
	}
	if n := is.JWKSFetch.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
	// Forged tokens (a key the issuer never published) right after: no fetch.
	forger := testoidc.New(t)
	for i := 0; i < 20; i++ {
		if verify(forger.Mint(t, is.Claims("a", "b"))) == nil {
			t.Fatal("forged token verified")
		}
	}
	if n := is.JWKSFetch.Load(); n != 1 {
		t.Errorf("%d fetches after forged tokens within minRefresh, want 1", n)
	}
	// The issuer rotates; once minRefresh has passed, the new key is fetched.
	is.Rotate(t)
	now = now.Add(c.minRefresh)
	if err := verify(is.Mint(t, is.Claims("a", "b"))); err != nil {
		t.Fatalf("token of the rotated key: %v", err)
	}
	if n := is.JWKSFetch.Load(); n != 2 {
		t.Errorf("%d fetches after rotation, want 2", n)
	}
	// Valid tokens of known keys cause no fetch; an old copy is refreshed.
	for i := 0; i < 5; i++ {
		verify(is.Mint(t, is.Claims("a", "b")))
	}
	if n := is.JWKSFetch.Load(); n != 2 {
		t.Errorf("%d fetches for known keys, want 2", n)
	}
	now = now.Add(c.maxAge)
	verify(is.Mint(t, is.Claims("a", "b")))
	if n := is.JWKSFetch.Load(); n != 3 {
		t.Errorf("%d fetches after maxAge, want 3", n)
	}
}
