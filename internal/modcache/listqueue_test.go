package modcache_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
)

// slowLists is a store whose @v/list writes wait for release.
type slowLists struct {
	*fs.Store
	release chan struct{}
}

func (s *slowLists) Put(ctx context.Context, name string, r io.Reader) error {
	if strings.HasSuffix(name, "/@v/list") {
		<-s.release
	}
	return s.Store.Put(ctx, name, r)
}

// With a list queue, a fetch answers without waiting for its @v/list to
// be rewritten; the rewrite follows, and Close finishes those waiting.
func TestListRewrittenInBackground(t *testing.T) {
	var slow *slowLists
	e := newEnv(t, func(o *modcache.Options) {
		slow = &slowLists{Store: o.Store.(*fs.Store), release: make(chan struct{})}
		o.Store = slow
		o.ListQueue = 16
	})
	ctx := context.Background()
	done := make(chan error, 1)
	go func() {
		for _, k := range []goproxy.Kind{goproxy.KindMod, goproxy.KindZip, goproxy.KindInfo} {
			a, err := e.cache.Open(ctx, "example.com/hello", "v1.0.0", k)
			if err != nil {
				done <- err
				return
			}
			a.Close()
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		close(slow.release)
		t.Fatal("fetches waited for their list to be written")
	}
	close(slow.release)
	e.cache.Close()
	a, err := e.store.Open(ctx, goproxy.ListName("example.com/hello"))
	if err != nil {
		t.Fatal(err)
	}
	list := readAll(t, &modcache.Artifact{Object: a})
	if string(list) != "v1.0.0\n" {
		t.Errorf("stored list %q, want the fetched version", list)
	}
}
