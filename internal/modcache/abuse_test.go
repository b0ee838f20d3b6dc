package modcache_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// countingSource answers with err (nil: a valid .info), counting calls;
// while hold is open it blocks every call first.
type countingSource struct {
	mu    sync.Mutex
	calls map[string]int
	err   error
	hold  chan struct{}
}

func (s *countingSource) count(what string) error {
	s.mu.Lock()
	s.calls[what]++
	hold, err := s.hold, s.err
	s.mu.Unlock()
	if hold != nil {
		<-hold
	}
	return err
}

func (s *countingSource) n(what string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[what]
}

func (s *countingSource) List(ctx context.Context, p string) ([]string, error) {
	return nil, s.count("list " + p)
}
func (s *countingSource) Latest(ctx context.Context, p string) ([]byte, error) {
	return nil, s.count("latest " + p)
}
func (s *countingSource) Info(ctx context.Context, p, v string) ([]byte, error) {
	if err := s.count("info " + p + "@" + v); err != nil {
		return nil, err
	}
	return []byte(`{"Version":"` + v + `","Time":"2024-01-01T00:00:00Z"}`), nil
}
func (s *countingSource) GoMod(ctx context.Context, p, v string) ([]byte, error) {
	return nil, s.count("mod " + p + "@" + v)
}
func (s *countingSource) Zip(ctx context.Context, p, v string) (io.ReadCloser, error) {
	return nil, s.count("zip " + p + "@" + v)
}

func newCountingCache(t *testing.T, src *countingSource, private bool, tweak func(*modcache.Options)) *modcache.Cache {
	t.Helper()
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	opts := modcache.Options{
		Store:   store,
		Route:   func(string) modcache.Route { return modcache.Route{Name: "private", Source: src, Private: private} },
		TempDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Timeout: 5 * time.Second,
	}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := modcache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// A private source's "not found" is remembered briefly: asking again for
// the same missing path, version or list costs nothing upstream until the
// TTL is over. A failure is not remembered, and public routes keep asking.
func TestPrivateNotFoundRemembered(t *testing.T) {
	ctx := context.Background()
	src := &countingSource{calls: map[string]int{}, err: fmt.Errorf("%w: no such repository", upstream.ErrNotFound)}
	c := newCountingCache(t, src, true, func(o *modcache.Options) { o.NotFoundTTL = 300 * time.Millisecond })
	for range 5 {
		if _, err := c.Open(ctx, "git.corp.test/nosuch", "v1.0.0", goproxy.KindInfo); !errors.Is(err, upstream.ErrNotFound) {
			t.Fatalf("Open: %v, want not found", err)
		}
		if _, _, err := c.List(ctx, "git.corp.test/nosuch"); !errors.Is(err, upstream.ErrNotFound) {
			t.Fatalf("List: %v, want not found", err)
		}
		if _, _, err := c.Latest(ctx, "git.corp.test/nosuch"); !errors.Is(err, upstream.ErrNotFound) {
			t.Fatalf("Latest: %v, want not found", err)
		}
	}
	for _, what := range []string{"info git.corp.test/nosuch@v1.0.0", "list git.corp.test/nosuch", "latest git.corp.test/nosuch"} {
		if n := src.n(what); n != 1 {
			t.Errorf("%s asked %d times within the TTL, want once", what, n)
		}
	}
	// Another version is another question.
	c.Open(ctx, "git.corp.test/nosuch", "v1.0.1", goproxy.KindInfo)
	if n := src.n("info git.corp.test/nosuch@v1.0.1"); n != 1 {
		t.Errorf("another version asked %d times", n)
	}
	time.Sleep(350 * time.Millisecond)
	c.Open(ctx, "git.corp.test/nosuch", "v1.0.0", goproxy.KindInfo)
	if n := src.n("info git.corp.test/nosuch@v1.0.0"); n != 2 {
		t.Errorf("after the TTL: asked %d times in all, want 2", n)
	}

	// Failures are asked again each time.
	src.mu.Lock()
	src.err = errors.New("connection refused")
	src.mu.Unlock()
	for range 3 {
		c.Open(ctx, "git.corp.test/flaky", "v1.0.0", goproxy.KindInfo)
	}
	if n := src.n("info git.corp.test/flaky@v1.0.0"); n != 3 {
		t.Errorf("a failing source was asked %d times, want 3 (failures are not remembered)", n)
	}

	pub := &countingSource{calls: map[string]int{}, err: upstream.ErrNotFound}
	pc := newCountingCache(t, pub, false, nil)
	for range 3 {
		pc.Open(ctx, "example.com/nosuch", "v1.0.0", goproxy.KindInfo)
	}
	if n := pub.n("info example.com/nosuch@v1.0.0"); n != 3 {
		t.Errorf("public route asked %d times, want 3", n)
	}
}

// A fetch still queued for an upstream slot when every request that wanted
// it has gone is dropped: it never reaches the source.
func TestAbandonedQueuedFetchDropped(t *testing.T) {
	src := &countingSource{calls: map[string]int{}, hold: make(chan struct{})}
	c := newCountingCache(t, src, false, func(o *modcache.Options) { o.MaxFetches = 1 })
	first := make(chan error, 1)
	go func() {
		_, err := c.Open(context.Background(), "example.com/slow", "v1.0.0", goproxy.KindInfo)
		first <- err
	}()
	for src.n("info example.com/slow@v1.0.0") == 0 {
		time.Sleep(5 * time.Millisecond) // the slow fetch holds the only slot
	}
	var wg sync.WaitGroup
	var left atomic.Int32
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			if _, err := c.Open(ctx, "example.com/abandoned", fmt.Sprintf("v1.0.%d", i), goproxy.KindInfo); errors.Is(err, context.DeadlineExceeded) {
				left.Add(1)
			}
		}()
	}
	wg.Wait()
	close(src.hold) // the slot is free again
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // a fetch that was not dropped would run now
	src.mu.Lock()
	defer src.mu.Unlock()
	for what, n := range src.calls {
		if strings.Contains(what, "abandoned") {
			t.Errorf("abandoned fetch %s reached the source %d times", what, n)
		}
	}
	if left.Load() != 20 {
		t.Errorf("%d of 20 callers timed out", left.Load())
	}
}
