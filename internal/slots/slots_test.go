package slots

import (
	"context"
	"errors"
	"testing"
	"time"
)

func acquireAsync(p *Pool, ctx context.Context, owner string) chan func() {
	ch := make(chan func(), 1)
	go func() {
		release, err := p.Acquire(ctx, owner)
		if err != nil {
			close(ch)
			return
		}
		ch <- release
	}()
	return ch
}

func granted(ch chan func()) (func(), bool) {
	select {
	case r, ok := <-ch:
		return r, ok
	case <-time.After(200 * time.Millisecond):
		return nil, false
	}
}

// One owner runs at most perOwner at once, however many it queues: the
// others' requests get the remaining slots at once.
func TestPerOwnerCap(t *testing.T) {
	p := New(4, 2, 100)
	ctx := context.Background()
	var held []func()
	for range 2 {
		r, err := p.Acquire(ctx, "mallory")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, r)
	}
	third := acquireAsync(p, ctx, "mallory")
	if _, ok := granted(third); ok {
		t.Fatal("a third slot for an owner capped at 2")
	}
	for _, who := range []string{"alice", "bob"} {
		if _, ok := granted(acquireAsync(p, ctx, who)); !ok {
			t.Fatalf("%s waited while slots were free", who)
		}
	}
	held[0]()
	if _, ok := granted(third); !ok {
		t.Fatal("mallory's queued request did not get the slot mallory freed")
	}
}

// A freed slot goes to the waiting owner that runs the fewest, not to the
// first in line.
func TestFreedSlotGoesToLeastBusyOwner(t *testing.T) {
	p := New(2, 0, 0) // no per-owner cap: only the order is tested
	ctx := context.Background()
	r1, _ := p.Acquire(ctx, "mallory")
	p.Acquire(ctx, "mallory")
	var queued []chan func()
	for range 5 {
		queued = append(queued, acquireAsync(p, ctx, "mallory"))
		time.Sleep(5 * time.Millisecond) // arrival order
	}
	alice := acquireAsync(p, ctx, "alice")
	time.Sleep(20 * time.Millisecond)
	r1()
	if _, ok := granted(alice); !ok {
		t.Fatal("the freed slot went to the owner running two, not to the one running none")
	}
	for i, q := range queued {
		select {
		case <-q:
			t.Fatalf("mallory's request %d got a slot", i)
		default:
		}
	}
}

// Beyond maxQueued waiting, an owner is refused at once with 429; others
// are not.
func TestQueueBound(t *testing.T) {
	p := New(1, 1, 2)
	ctx := context.Background()
	p.Acquire(ctx, "mallory")
	acquireAsync(p, ctx, "mallory")
	acquireAsync(p, ctx, "mallory")
	time.Sleep(20 * time.Millisecond)
	_, err := p.Acquire(ctx, "mallory")
	var busy *BusyError
	if !errors.As(err, &busy) || busy.HTTPStatus() != 429 {
		t.Fatalf("third queued: %v, want a BusyError (429)", err)
	}
	ctx2, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := p.Acquire(ctx2, "alice"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("alice: %v, want her to queue and time out", err)
	}
}

// A waiter whose context ends leaves the queue and frees its place.
func TestCancelledWaiterLeaves(t *testing.T) {
	p := New(1, 1, 1)
	release, _ := p.Acquire(context.Background(), "a")
	ctx, cancel := context.WithCancel(context.Background())
	ch := acquireAsync(p, ctx, "a")
	time.Sleep(20 * time.Millisecond)
	cancel()
	if _, ok := <-ch; ok {
		t.Fatal("cancelled waiter got a slot")
	}
	next := acquireAsync(p, context.Background(), "a") // the queue has room again
	release()
	if r, ok := granted(next); !ok {
		t.Fatal("the slot was not handed on")
	} else {
		r()
	}
	if p.free != 1 || len(p.running) != 0 || len(p.queued) != 0 || len(p.waiting) != 0 {
		t.Errorf("pool not back to empty: free %d running %v queued %v waiting %d", p.free, p.running, p.queued, len(p.waiting))
	}
}
