package modcache

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// answers keeps the upstream's last answers to @v/list and @latest, by
// flight key, so that a warm proxy answers them at memory speed instead of
// one upstream round trip each. What is kept is the upstream's answer, never
// one filtered for a caller: access and policy filter it on every request.
type answers struct {
	mu      sync.Mutex
	entries map[string]*answer
}

// answer is one kept answer: a value, or "not found" (err). It is replaced,
// never changed, except for refreshing, which mu guards.
type answer struct {
	val        any
	err        error // nil or an upstream.ErrNotFound
	at         time.Time
	refreshing bool
}

// maxAnswers bounds the kept answers: a client asking for random module
// paths must not grow memory without end.
const maxAnswers = 10000

// listTTL returns how long modPath's list and @latest answers are fresh.
func (c *Cache) listTTL(modPath string) time.Duration {
	if c.opts.Route(modPath).Private {
		return c.opts.PrivateListTTL
	}
	return c.opts.ListTTL
}

// answer returns the upstream's answer for key (a list or @latest of
// modPath), fetched by fetch. An answer younger than the TTL is served from
// memory; one up to twice that age is served at once while a background
// fetch replaces it (stale-while-revalidate); an older one waits for the
// upstream, and is served only if the upstream fails and it is younger than
// ListMaxStale (stale-if-error). "Not found" is an answer like any other.
func (c *Cache) answer(ctx context.Context, modPath, key string, fetch func(context.Context) (any, error)) (any, Source, error) {
	ttl := c.listTTL(modPath)
	if ttl <= 0 {
		v, err := c.flight(ctx, modPath, key, fetch)
		return v, FromUpstream, err
	}
	now := time.Now()
	kept, refresh := c.answers.lookup(key, now, ttl)
	if kept != nil && now.Sub(kept.at) < 2*ttl {
		if refresh {
			go c.refresh(context.WithoutCancel(ctx), modPath, key, fetch)
		}
		return kept.val, FromCache, kept.err
	}
	v, err := c.flight(ctx, modPath, key, c.keeping(key, fetch))
	if err == nil || errors.Is(err, upstream.ErrNotFound) || ctx.Err() != nil {
		return v, FromUpstream, err
	}
	if kept != nil && time.Since(kept.at) < c.opts.ListMaxStale {
		c.log.Warn("upstream failed; serving its last answer", "module", modPath, "answer", key, "age", time.Since(kept.at).Round(time.Second), "err", err)
		return kept.val, FromCache, kept.err
	}
	return nil, "", err
}

// keeping wraps fetch so that its answer (or "not found") is kept.
func (c *Cache) keeping(key string, fetch func(context.Context) (any, error)) func(context.Context) (any, error) {
	return func(ctx context.Context) (any, error) {
		v, err := fetch(ctx)
		if err == nil || errors.Is(err, upstream.ErrNotFound) {
			keep := max(2*c.opts.ListTTL, 2*c.opts.PrivateListTTL, c.opts.ListMaxStale)
			c.answers.put(key, &answer{val: v, err: err, at: time.Now()}, keep)
		}
		return v, err
	}
}

// refresh replaces key's answer in the background. On failure the old
// answer stays, to be served while it is young enough.
func (c *Cache) refresh(ctx context.Context, modPath, key string, fetch func(context.Context) (any, error)) {
	if _, err := c.flight(ctx, modPath, key, c.keeping(key, fetch)); err != nil && !errors.Is(err, upstream.ErrNotFound) {
		c.log.Warn("refreshing a kept answer failed; the last one stays", "module", modPath, "answer", key, "err", err)
	}
	c.answers.doneRefreshing(key)
}

// lookup returns a copy of key's kept answer, and whether the caller is to
// refresh it in the background: it is stale but still served, and no
// refresh is under way.
func (a *answers) lookup(key string, now time.Time, ttl time.Duration) (*answer, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e := a.entries[key]
	if e == nil {
		return nil, false
	}
	refresh := false
	if age := now.Sub(e.at); age >= ttl && age < 2*ttl && !e.refreshing {
		e.refreshing, refresh = true, true
	}
	cp := *e
	return &cp, refresh
}

func (a *answers) doneRefreshing(key string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if e := a.entries[key]; e != nil {
		e.refreshing = false
	}
}

// put keeps e under key. When full, answers older than keep go first, then
// arbitrary ones: the kept answers are only a saving.
func (a *answers) put(key string, e *answer, keep time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.entries == nil {
		a.entries = map[string]*answer{}
	}
	if _, ok := a.entries[key]; !ok && len(a.entries) >= maxAnswers {
		for k, old := range a.entries {
			if e.at.Sub(old.at) > keep {
				delete(a.entries, k)
			}
		}
		for k := range a.entries {
			if len(a.entries) < maxAnswers {
				break
			}
			delete(a.entries, k)
		}
	}
	a.entries[key] = e
}
