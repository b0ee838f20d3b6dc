package modcache

import (
	"context"
	"errors"
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
	_, err := c.flightIn(ctx, nil, modPath, name, func(ctx context.Context) (any, error) {
		if _, err := c.opts.Store.Stat(ctx, name); err == nil {
			return "", nil
		}
		return c.fetch(ctx, modPath, version, kind, name)
	})
	if err != nil && !errors.Is(err, upstream.ErrNotFound) {
		c.log.Debug("prefetch failed", "module", modPath, "version", version, "kind", string(kind), "err", err)
	}
}

// PrefetchesDone returns how many prefetches have finished (for tests).
func (c *Cache) PrefetchesDone() int64 {
	if c.prefetch == nil {
		return 0
	}
	return c.prefetch.done.Load()
}
