package flight

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

// Callers of one key share one run of fn.
func TestShared(t *testing.T) {
	var g Group
	var runs atomic.Int32
	release := make(chan struct{})
	fn := func(ctx context.Context) (any, error) {
		runs.Add(1)
		<-release
		return "v", nil
	}
	results := make(chan any, 3)
	for range 3 {
		go func() {
			v, _ := g.Do(context.Background(), "k", fn)
			results <- v
		}()
	}
	time.Sleep(50 * time.Millisecond)
	close(release)
	for range 3 {
		if v := <-results; v != "v" {
			t.Errorf("result %v", v)
		}
	}
	if n := runs.Load(); n != 1 {
		t.Errorf("fn ran %d times", n)
	}
}

// A fetch still waiting (it has not called Start) is cancelled when its
// last waiter has gone; the next caller starts a new one.
func TestAbandonedBeforeStartIsCancelled(t *testing.T) {
	var g Group
	cancelled := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	for _, c := range []context.Context{ctx, ctx2} {
		go g.Do(c, "k", func(ctx context.Context) (any, error) {
			<-ctx.Done() // waiting for a slot
			close(cancelled)
			return nil, ctx.Err()
		})
	}
	time.Sleep(30 * time.Millisecond)
	cancel()
	select {
	case <-cancelled:
		t.Fatal("cancelled while a waiter remained")
	case <-time.After(50 * time.Millisecond):
	}
	cancel2()
	select {
	case <-cancelled:
	case <-time.After(time.Second):
		t.Fatal("a fetch every waiter left was not cancelled")
	}
	v, err := g.Do(context.Background(), "k", func(context.Context) (any, error) { return "fresh", nil })
	if v != "fresh" || err != nil {
		t.Errorf("next caller: %v, %v", v, err)
	}
}

// A fetch that has started runs to its end when its waiters leave, and so
// does the fetch it runs inside (a nested Group's Start marks both).
func TestStartedRunsToEnd(t *testing.T) {
	var outer, inner Group
	finished := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go outer.Do(ctx, "k", func(ctx context.Context) (any, error) {
		return inner.Do(ctx, "k", func(ctx context.Context) (any, error) {
			Start(ctx)
			time.Sleep(100 * time.Millisecond)
			finished <- ctx.Err()
			return nil, nil
		})
	})
	time.Sleep(30 * time.Millisecond)
	cancel()
	select {
	case err := <-finished:
		if err != nil {
			t.Errorf("started fetch saw %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("started fetch did not finish")
	}
}

// Do returns the caller's own context error when it leaves.
func TestCallerLeaves(t *testing.T) {
	var g Group
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := g.Do(ctx, "k", func(ctx context.Context) (any, error) {
		Start(ctx)
		time.Sleep(100 * time.Millisecond)
		return nil, nil
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err %v", err)
	}
}
