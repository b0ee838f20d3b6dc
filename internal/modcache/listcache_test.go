package modcache_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

func withListTTL(ttl, maxStale time.Duration) func(*modcache.Options) {
	return func(o *modcache.Options) { o.ListTTL, o.ListMaxStale = ttl, maxStale }
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Within the TTL, list and @latest are answered from memory: the upstream
// sees one request each however many clients ask.
func TestListKeptWithinTTL(t *testing.T) {
	e := newEnv(t, withListTTL(time.Hour, time.Hour))
	ctx := context.Background()
	for i := range 5 {
		list, src, err := e.cache.List(ctx, "example.com/lib")
		if err != nil || strings.Join(list, " ") != "v1.0.0 v1.1.0 v1.2.0 v1.3.0" {
			t.Fatalf("List = %v %v", list, err)
		}
		if want := map[bool]modcache.Source{true: modcache.FromUpstream, false: modcache.FromCache}[i == 0]; src != want {
			t.Errorf("List #%d source %s, want %s", i, src, want)
		}
		list[0] = "changed by a caller" // must not reach the kept answer
		info, _, err := e.cache.Latest(ctx, "example.com/lib")
		if err != nil || !strings.Contains(string(info), `"v1.3.0"`) {
			t.Fatalf("Latest = %s %v", info, err)
		}
	}
	if n := e.up.Count("/example.com/lib/@v/list"); n != 1 {
		t.Errorf("upstream saw %d list requests, want 1", n)
	}
	if n := e.up.Count("/example.com/lib/@latest"); n != 1 {
		t.Errorf("upstream saw %d @latest requests, want 1", n)
	}
	// "Not found" is kept too: import-path probing asks for many.
	for range 3 {
		if _, _, err := e.cache.Latest(ctx, "example.com/nosuch"); !errors.Is(err, upstream.ErrNotFound) {
			t.Fatalf("Latest of a missing module: %v, want not found", err)
		}
	}
	if n := e.up.Count("/example.com/nosuch/@latest"); n != 1 {
		t.Errorf("upstream saw %d @latest requests for a missing module, want 1", n)
	}
}

// With no TTL every request asks the upstream, as before lists were kept.
func TestListNotKeptWithoutTTL(t *testing.T) {
	e := newEnv(t, nil)
	for range 3 {
		if _, _, err := e.cache.List(context.Background(), "example.com/lib"); err != nil {
			t.Fatal(err)
		}
	}
	if n := e.up.Count("/example.com/lib/@v/list"); n != 3 {
		t.Errorf("upstream saw %d list requests, want 3", n)
	}
}

// After the TTL, the kept answer is served once more at once while a
// background fetch replaces it (stale-while-revalidate); a new version then
// shows. Past twice the TTL a request waits for the upstream.
func TestListRefreshedAfterTTL(t *testing.T) {
	const ttl = 100 * time.Millisecond
	e := newEnv(t, withListTTL(ttl, time.Hour))
	ctx := context.Background()
	const mod, url = "example.com/lib", "/example.com/lib/@v/list"
	if _, _, err := e.cache.List(ctx, mod); err != nil {
		t.Fatal(err)
	}
	if err := e.up.Add(mod, "v1.4.0", map[string]string{"go.mod": "module example.com/lib\n"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	time.Sleep(ttl + 10*time.Millisecond)
	e.up.SetDelay(300 * time.Millisecond) // a refresh that a request waited for would show
	start := time.Now()
	list, src, err := e.cache.List(ctx, mod)
	if d := time.Since(start); d > 150*time.Millisecond {
		t.Errorf("a stale list took %v: it waited for the refresh", d)
	}
	if err != nil || src != modcache.FromCache || strings.Contains(strings.Join(list, " "), "v1.4.0") {
		t.Fatalf("stale List = %v %s %v, want the kept answer", list, src, err)
	}
	waitFor(t, "the background refresh", func() bool {
		l, _, _ := e.cache.List(ctx, mod)
		return len(l) > 0 && l[len(l)-1] == "v1.4.0"
	})
	if n := e.up.Count(url); n != 2 {
		t.Errorf("upstream saw %d list requests, want 2 (one background refresh)", n)
	}
	// Idle past twice the TTL: the next request waits for a fresh answer.
	e.up.SetDelay(0)
	time.Sleep(2*ttl + 10*time.Millisecond)
	if _, src, err := e.cache.List(ctx, mod); err != nil || src != modcache.FromUpstream {
		t.Errorf("List after 2×TTL = %s %v, want a fresh upstream answer", src, err)
	}
	if n := e.up.Count(url); n != 3 {
		t.Errorf("upstream saw %d list requests, want 3", n)
	}
}

// When the upstream fails, the last good answer is served while it is
// younger than ListMaxStale (stale-if-error), and not after.
func TestListStaleIfError(t *testing.T) {
	const ttl = 20 * time.Millisecond
	e := newEnv(t, withListTTL(ttl, 2*time.Second))
	ctx := context.Background()
	const mod = "example.com/lib" // nothing of it is stored: no fallback to storage
	if _, _, err := e.cache.List(ctx, mod); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.cache.Latest(ctx, mod); err != nil {
		t.Fatal(err)
	}
	e.up.SetStatus(http.StatusServiceUnavailable)
	time.Sleep(2*ttl + 10*time.Millisecond)
	list, src, err := e.cache.List(ctx, mod)
	if err != nil || src != modcache.FromCache || len(list) != 4 {
		t.Fatalf("List with the upstream down = %v %s %v, want the last good answer", list, src, err)
	}
	info, src, err := e.cache.Latest(ctx, mod)
	if err != nil || src != modcache.FromCache || !strings.Contains(string(info), `"v1.3.0"`) {
		t.Fatalf("Latest with the upstream down = %s %s %v, want the last good answer", info, src, err)
	}
	time.Sleep(2 * time.Second)
	var ue *modcache.UpstreamError
	if list, _, err := e.cache.List(ctx, mod); !errors.As(err, &ue) {
		t.Errorf("List past ListMaxStale with the upstream down = %v %v, want an upstream failure", list, err)
	}
}
