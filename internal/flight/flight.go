// Package flight runs one fetch per key however many requests wait for it,
// as golang.org/x/sync/singleflight does, but keeps abandoned work from
// piling up: the fetch is detached from each waiter's cancellation (others
// may still want it), yet a fetch that has not started its real work is
// cancelled as soon as its last waiter has gone.
package flight

import (
	"context"
	"sync"
)

// Group is a set of fetches by key. The zero Group is ready to use.
type Group struct {
	mu    sync.Mutex
	calls map[string]*call
}

type call struct {
	done    chan struct{}
	val     any
	err     error
	waiters int
	started bool
	cancel  context.CancelFunc
}

type startKey struct{}

// Do returns the result of fn for key, starting fn unless a fetch of key
// is in flight already. fn's context keeps ctx's values but not its
// cancellation; it is cancelled when every caller waiting for the result
// has gone before fn called Start, and after fn returns. Do returns
// ctx.Err() if ctx is done first.
func (g *Group) Do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	g.mu.Lock()
	if g.calls == nil {
		g.calls = map[string]*call{}
	}
	c := g.calls[key]
	if c == nil {
		c = g.start(ctx, key, fn)
	}
	c.waiters++
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.val, c.err
	case <-ctx.Done():
	}
	g.mu.Lock()
	c.waiters--
	if c.waiters == 0 && !c.started {
		c.cancel()
		if g.calls[key] == c {
			delete(g.calls, key) // the next caller starts afresh
		}
	}
	g.mu.Unlock()
	return nil, ctx.Err()
}

// start runs fn for key in its own goroutine; g.mu is held.
func (g *Group) start(ctx context.Context, key string, fn func(context.Context) (any, error)) *call {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c := &call{done: make(chan struct{}), cancel: cancel}
	outer, _ := ctx.Value(startKey{}).(func())
	fctx = context.WithValue(fctx, startKey{}, func() {
		g.mu.Lock()
		c.started = true
		g.mu.Unlock()
		if outer != nil {
			outer() // the fetch this one is part of has started too
		}
	})
	g.calls[key] = c
	go func() {
		defer close(c.done)
		defer cancel()
		c.val, c.err = fn(fctx)
		g.mu.Lock()
		if g.calls[key] == c {
			delete(g.calls, key)
		}
		g.mu.Unlock()
	}()
	return c
}

// Start marks the fetches ctx belongs to (a fetch of this package and
// those it runs inside) as started: from here on they run to the end even
// if every waiter has gone, so that their result can be stored for the
// next request. Call it when the real work begins, as a child process
// starts or a request goes out. Outside a fetch it does nothing.
func Start(ctx context.Context) {
	if f, ok := ctx.Value(startKey{}).(func()); ok {
		f()
	}
}
