package modcache_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

func withPrefetch(workers, maxFetches int) func(*modcache.Options) {
	return func(o *modcache.Options) { o.PrefetchWorkers, o.MaxFetches = workers, maxFetches }
}

// idle waits until no prefetch is pending.
func idle(t *testing.T, c *modcache.Cache) {
	t.Helper()
	waitFor(t, "the prefetches", func() bool { return c.PrefetchesPending() == 0 })
}

func open(t *testing.T, c *modcache.Cache, mod, version string, kind goproxy.Kind) modcache.Source {
	t.Helper()
	a, err := c.Open(context.Background(), mod, version, kind)
	if err != nil {
		t.Fatalf("%s@%s.%s: %v", mod, version, kind, err)
	}
	a.Close()
	return a.Source
}

// An .info miss prefetches the .mod and .zip, a .mod miss only the .info:
// once the prefetches are done, the client's next requests are hits, and
// the upstream saw each artifact once.
func TestPrefetchWarmsSiblings(t *testing.T) {
	e := newEnv(t, withPrefetch(2, 0))
	const mod = "example.com/lib"
	url := func(v, k string) string { return "/" + mod + "/@v/" + v + "." + k }

	if src := open(t, e.cache, mod, "v1.0.0", goproxy.KindInfo); src != modcache.FromUpstream {
		t.Fatalf(".info source %s, want a miss", src)
	}
	idle(t, e.cache)
	for _, k := range []goproxy.Kind{goproxy.KindMod, goproxy.KindZip} {
		if src := open(t, e.cache, mod, "v1.0.0", k); src != modcache.FromCache {
			t.Errorf(".%s after an .info miss: source %s, want a prefetched hit", k, src)
		}
		if n := e.up.Count(url("v1.0.0", string(k))); n != 1 {
			t.Errorf("upstream saw %d requests for .%s, want 1", n, k)
		}
	}

	if src := open(t, e.cache, mod, "v1.1.0", goproxy.KindMod); src != modcache.FromUpstream {
		t.Fatalf(".mod source %s, want a miss", src)
	}
	idle(t, e.cache)
	if n := e.up.Count(url("v1.1.0", "zip")); n != 0 {
		t.Errorf("a .mod miss fetched the zip (%d requests): the go command reads far more go.mod files than it downloads", n)
	}
	// The client's first request of the prefetched .info is a hit, and the
	// same sign as an .info miss: the zip is prefetched now. A second
	// request of it prefetches nothing more.
	if src := open(t, e.cache, mod, "v1.1.0", goproxy.KindInfo); src != modcache.FromCache {
		t.Errorf(".info after a .mod miss: source %s, want a prefetched hit", src)
	}
	idle(t, e.cache)
	if n := e.up.Count(url("v1.1.0", "zip")); n != 1 {
		t.Errorf("after the first request of a prefetched .info, the upstream saw %d zip requests, want 1", n)
	}
	if src := open(t, e.cache, mod, "v1.1.0", goproxy.KindZip); src != modcache.FromCache {
		t.Errorf(".zip after the .info: source %s, want a prefetched hit", src)
	}
	idle(t, e.cache)
	before := e.cache.PrefetchesDone()
	open(t, e.cache, mod, "v1.1.0", goproxy.KindInfo)
	if n := e.cache.PrefetchesPending(); n != 0 {
		t.Errorf("a second request of a prefetched .info started %d prefetches", n)
	}
	if n := e.cache.PrefetchesDone(); n != before {
		t.Errorf("%d prefetches after a plain hit, want %d", n, before)
	}

	// Without workers there is no prefetch.
	e2 := newEnv(t, nil)
	open(t, e2.cache, mod, "v1.0.0", goproxy.KindInfo)
	time.Sleep(100 * time.Millisecond)
	if n := e2.up.Count(url("v1.0.0", "zip")); n != 0 {
		t.Errorf("prefetch off, yet the upstream saw %d zip requests", n)
	}
}

// A client asking for an artifact being prefetched shares that fetch.
func TestPrefetchSharedWithClient(t *testing.T) {
	e := newEnv(t, withPrefetch(2, 0))
	const mod = "example.com/lib"
	open(t, e.cache, mod, "v1.2.0", goproxy.KindInfo)
	e.up.SetDelay(100 * time.Millisecond)
	open(t, e.cache, mod, "v1.2.0", goproxy.KindZip) // while the prefetch runs, or after
	idle(t, e.cache)
	if n := e.up.Count("/" + mod + "/@v/v1.2.0.zip"); n != 1 {
		t.Errorf("upstream saw %d zip requests, want 1 (prefetch and client share a fetch)", n)
	}
}

// Prefetches hold workers of their own: with every prefetch worker busy on
// a slow upstream, a client's miss still gets the one client slot at once,
// and a hit is served at once.
func TestPrefetchNeverBlocksClients(t *testing.T) {
	e := newEnv(t, withPrefetch(1, 1))
	const mod = "example.com/lib"
	open(t, e.cache, mod, "v1.3.0", goproxy.KindInfo) // a hit for later
	idle(t, e.cache)
	open(t, e.cache, "example.com/greet", "v1.0.0", goproxy.KindMod) // warms the checksum database tiles
	idle(t, e.cache)

	const delay = 400 * time.Millisecond
	e.up.SetDelay(delay)
	start := time.Now()
	open(t, e.cache, mod, "v1.0.0", goproxy.KindInfo) // starts two slow prefetches
	baseline := time.Since(start)
	waitFor(t, "a prefetch at the upstream", func() bool {
		return e.up.Count("/"+mod+"/@v/v1.0.0.mod")+e.up.Count("/"+mod+"/@v/v1.0.0.zip") > 0
	})

	start = time.Now()
	if src := open(t, e.cache, mod, "v1.3.0", goproxy.KindZip); src != modcache.FromCache {
		t.Fatalf("source %s, want a hit", src)
	}
	if d := time.Since(start); d > delay/4 {
		t.Errorf("a hit took %v while prefetches ran", d)
	}
	start = time.Now()
	open(t, e.cache, mod, "v1.1.0", goproxy.KindInfo) // a client miss with the only client slot
	if d := time.Since(start); d > baseline+delay/2 {
		t.Errorf("a client miss took %v while prefetches ran, against %v alone: it waited for them", d, baseline)
	}
	_, errMod := e.store.Stat(context.Background(), goproxy.ArtifactName(mod, "v1.0.0", goproxy.KindMod))
	_, errZip := e.store.Stat(context.Background(), goproxy.ArtifactName(mod, "v1.0.0", goproxy.KindZip))
	if errMod == nil && errZip == nil {
		t.Fatal("the slow prefetches were done already: the test proved nothing")
	}
	idle(t, e.cache)
}

type ownerKey struct{}

// ownerSource is a private source that records whose request (a context
// value, as direct.Source's Owner reads the identity) each fetch ran for.
type ownerSource struct {
	countingSource
	owners sync.Map // "kind" → owner
}

func (s *ownerSource) note(ctx context.Context, kind string) {
	owner, _ := ctx.Value(ownerKey{}).(string)
	s.owners.Store(kind, owner)
}

func (s *ownerSource) Info(ctx context.Context, p, v string) ([]byte, error) {
	s.note(ctx, "info")
	return s.countingSource.Info(ctx, p, v)
}

func (s *ownerSource) GoMod(ctx context.Context, p, v string) ([]byte, error) {
	s.note(ctx, "mod")
	return []byte("module " + p + "\n"), nil
}

func (s *ownerSource) Zip(ctx context.Context, p, v string) (io.ReadCloser, error) {
	s.note(ctx, "zip")
	return nil, upstream.ErrNotFound
}

// A private module's prefetches run for the identity whose request caused
// them, so its child go commands count against that identity's slots.
func TestPrefetchKeepsRequestIdentity(t *testing.T) {
	src := &ownerSource{countingSource: countingSource{calls: map[string]int{}}}
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := modcache.New(modcache.Options{
		Store: store, TempDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), PrefetchWorkers: 2,
		Route: func(string) modcache.Route { return modcache.Route{Name: "private", Source: src, Private: true} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.WithValue(context.Background(), ownerKey{}, "alice"))
	a, err := c.Open(ctx, "git.corp.test/lib", "v1.0.0", goproxy.KindInfo)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	cancel() // the client is gone; its prefetches go on
	idle(t, c)
	for _, k := range []string{"mod", "zip"} {
		if owner, _ := src.owners.Load(k); owner != "alice" {
			t.Errorf("prefetch of .%s ran for %q, want alice", k, owner)
		}
	}
	if src := open(t, c, "git.corp.test/lib", "v1.0.0", goproxy.KindMod); src != modcache.FromCache {
		t.Errorf("prefetched .mod: source %s, want a hit", src)
	}
	idle(t, c)
}
