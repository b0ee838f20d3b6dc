package modcache

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// prefetcher fetches the sibling artifacts of a client's miss before the
// client asks for them: the go command asks for every .mod of the build,
// then every .info, then every .zip, so a miss of one foretells the others.
// It has workers of its own and never takes a client's upstream slot, and a
// hit never waits for it (hits do not fetch). A prefetch is the fetch a
// client would cause, in the same flight: a client asking for an artifact
// being prefetched waits for that fetch instead of starting another.
type prefetcher struct {
	workers chan struct{}
	pending atomic.Int64 // started and not done, waiting for a worker or not
	done    atomic.Int64 // finished, for tests

	// unclaimed holds the artifacts prefetches stored that no client has
	// asked for yet. A client's first request of one is the same sign as
	// a miss (the .info of a build's .mod phase, prefetched, is first
	// asked for in its .info phase, which foretells the zips), so it
	// prefetches the siblings too.
	mu        sync.Mutex
	unclaimed map[string]struct{}
	nUnclaim  atomic.Int64 // len(unclaimed), read without mu on every hit
}

// maxUnclaimed bounds unclaimed; beyond it prefetched artifacts are not
// remembered (their first request then prefetches nothing).
const maxUnclaimed = 10000

func (p *prefetcher) markUnclaimed(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.unclaimed == nil {
		p.unclaimed = map[string]struct{}{}
	}
	if len(p.unclaimed) < maxUnclaimed {
		p.unclaimed[name] = struct{}{}
		p.nUnclaim.Store(int64(len(p.unclaimed)))
	}
}

// claim reports whether name was prefetched and not asked for yet, and
// marks it asked for. It costs a hit one atomic load when nothing waits.
func (p *prefetcher) claim(name string) bool {
	if p.nUnclaim.Load() == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.unclaimed[name]
	delete(p.unclaimed, name)
	p.nUnclaim.Store(int64(len(p.unclaimed)))
	return ok
}

// claimed starts the siblings' prefetches if a hit of name is a client's
// first request of an artifact a prefetch stored.
func (c *Cache) claimed(ctx context.Context, modPath, version string, kind goproxy.Kind, name string) {
	if p := c.prefetch; p != nil && p.nUnclaim.Load() != 0 && ctx.Value(noPrefetchKey{}) == nil && p.claim(name) {
		c.prefetchSiblings(ctx, modPath, version, kind)
	}
}

// maxPendingPrefetches bounds the prefetches waiting for a worker; beyond
// it they are dropped: a prefetch is only a saving.
const maxPendingPrefetches = 1000

// siblings are the artifacts a client that missed kind is likely to ask
// for next. A .mod alone does not foretell a .zip: the go command reads
// the go.mod of every module in the graph but downloads far fewer.
func siblings(kind goproxy.Kind) []goproxy.Kind {
	switch kind {
	case goproxy.KindMod:
		return []goproxy.Kind{goproxy.KindInfo}
	case goproxy.KindInfo:
		return []goproxy.Kind{goproxy.KindMod, goproxy.KindZip}
	case goproxy.KindZip:
		return []goproxy.Kind{goproxy.KindInfo, goproxy.KindMod}
	}
	return nil
}

type noPrefetchKey struct{}

// withoutPrefetch marks ctx as a read of the proxy's own (not a client's
// download), which starts no prefetch.
func withoutPrefetch(ctx context.Context) context.Context {
	return context.WithValue(ctx, noPrefetchKey{}, true)
}

// prefetchSiblings starts prefetches of the siblings of kind, after a miss
// of kind was fetched and stored: a version that does not exist costs no
// prefetch. The prefetch keeps ctx's values, so that a private fetch counts
// against the slots of the identity whose request caused it; it does not
// keep its cancellation.
func (c *Cache) prefetchSiblings(ctx context.Context, modPath, version string, kind goproxy.Kind) {
	p := c.prefetch
	if p == nil || ctx.Value(noPrefetchKey{}) != nil {
		return
	}
	for _, k := range siblings(kind) {
		if p.pending.Add(1) > maxPendingPrefetches {
			p.pending.Add(-1)
			c.log.Debug("prefetch queue full; prefetch dropped", "module", modPath, "version", version, "kind", string(k))
			continue
		}
		go c.prefetchOne(context.WithoutCancel(ctx), modPath, version, k)
	}
}

// prefetchOne fetches one artifact unless it is stored, holding a
// prefetch worker for the fetch.
func (c *Cache) prefetchOne(ctx context.Context, modPath, version string, kind goproxy.Kind) {
	p := c.prefetch
	defer p.done.Add(1)
	defer p.pending.Add(-1)
	name := goproxy.ArtifactName(modPath, version, kind)
	if _, err := c.opts.Store.Stat(ctx, name); err == nil {
		return
	}
	p.workers <- struct{}{}
	defer func() { <-p.workers }()
	stored := false // by this prefetch's own fetch, not a client's it joined
	_, err := c.flightIn(ctx, nil, modPath, name, func(ctx context.Context) (any, error) {
		if _, err := c.opts.Store.Stat(ctx, name); err == nil {
			return "", nil
		}
		h1, err := c.fetch(ctx, modPath, version, kind, name)
		stored = err == nil
		return h1, err
	})
	if stored {
		p.markUnclaimed(name)
	}
	if err != nil && !errors.Is(err, upstream.ErrNotFound) {
		c.log.Debug("prefetch failed", "module", modPath, "version", version, "kind", string(kind), "err", err)
	}
}

// PrefetchesPending returns how many prefetches were started and have not
// finished (for tests: after Open returns, the prefetches it started are
// counted here).
func (c *Cache) PrefetchesPending() int64 {
	if c.prefetch == nil {
		return 0
	}
	return c.prefetch.pending.Load()
}

// PrefetchesDone returns how many prefetches have finished (for tests).
func (c *Cache) PrefetchesDone() int64 {
	if c.prefetch == nil {
		return 0
	}
	return c.prefetch.done.Load()
}
