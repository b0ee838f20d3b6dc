// Package slots shares a few expensive slots (child processes) fairly
// among owners (identities): an owner runs at most PerOwner at once and may
// have at most MaxQueued waiting, and a freed slot goes to the waiting
// owner that runs the fewest, so one owner's backlog never stands between
// another owner and the next free slot.
package slots

import (
	"context"
	"fmt"
	"sync"
)

// Pool is a set of slots. Owner "" (work no request asked for, such as
// a mirror run) has no per-owner bounds.
type Pool struct {
	size, perOwner, maxQueued int

	mu      sync.Mutex
	free    int
	running map[string]int
	queued  map[string]int
	waiting []*waiter // in arrival order
}

type waiter struct {
	owner   string
	ready   chan struct{}
	granted bool
}

// New returns a pool of size slots. perOwner and maxQueued <= 0: no bound.
func New(size, perOwner, maxQueued int) *Pool {
	size = max(size, 1)
	return &Pool{size: size, perOwner: perOwner, maxQueued: maxQueued, free: size, running: map[string]int{}, queued: map[string]int{}}
}

// BusyError refuses a slot to an owner who has too many waiting already.
type BusyError struct {
	Owner     string
	MaxQueued int
}

func (e *BusyError) Error() string {
	return fmt.Sprintf("too many fetches from private sources are waiting for %s (at most %d); retry in a few seconds", e.Owner, e.MaxQueued)
}

// HTTPStatus answers the request with 429 Too Many Requests.
func (e *BusyError) HTTPStatus() int { return 429 }

// Acquire waits for a slot for owner and returns the function that gives
// it back. It fails with a *BusyError when owner has MaxQueued waiting,
// and with ctx.Err() when ctx is done first.
func (p *Pool) Acquire(ctx context.Context, owner string) (release func(), err error) {
	release = func() { p.release(owner) }
	p.mu.Lock()
	if p.mayRun(owner) {
		p.grant(owner)
		p.mu.Unlock()
		return release, nil
	}
	if owner != "" && p.maxQueued > 0 && p.queued[owner] >= p.maxQueued {
		p.mu.Unlock()
		return nil, &BusyError{Owner: owner, MaxQueued: p.maxQueued}
	}
	w := &waiter{owner: owner, ready: make(chan struct{})}
	p.waiting = append(p.waiting, w)
	p.queued[owner]++
	p.mu.Unlock()
	select {
	case <-w.ready:
		return release, nil
	case <-ctx.Done():
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if w.granted { // granted as ctx ended: hand it on
		p.releaseLocked(owner)
	} else {
		p.dequeueLocked(w)
	}
	return nil, ctx.Err()
}

func (p *Pool) mayRun(owner string) bool {
	return p.free > 0 && (owner == "" || p.perOwner <= 0 || p.running[owner] < p.perOwner)
}

func (p *Pool) grant(owner string) {
	p.free--
	p.running[owner]++
}

func (p *Pool) release(owner string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.releaseLocked(owner)
}

func (p *Pool) releaseLocked(owner string) {
	p.free++
	if p.running[owner]--; p.running[owner] <= 0 {
		delete(p.running, owner)
	}
	p.dispatchLocked()
}

// dispatchLocked hands free slots to waiters: each time to the first
// waiter (in arrival order) among the owners that run the fewest.
func (p *Pool) dispatchLocked() {
	for p.free > 0 {
		var best *waiter
		for _, w := range p.waiting {
			if p.mayRun(w.owner) && (best == nil || p.running[w.owner] < p.running[best.owner]) {
				best = w
			}
		}
		if best == nil {
			return
		}
		p.dequeueLocked(best)
		p.grant(best.owner)
		best.granted = true
		close(best.ready)
	}
}

func (p *Pool) dequeueLocked(w *waiter) {
	for i, x := range p.waiting {
		if x == w {
			p.waiting = append(p.waiting[:i], p.waiting[i+1:]...)
			break
		}
	}
	if p.queued[w.owner]--; p.queued[w.owner] <= 0 {
		delete(p.queued, w.owner)
	}
}
