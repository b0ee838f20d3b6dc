package modcache_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

type env struct {
	up    *testproxy.Server
	store *fs.Store
	cache *modcache.Cache
	tmp   string
}

func newEnv(t *testing.T, tweak func(*modcache.Options)) *env {
	t.Helper()
	up := testproxy.New(t)
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	chain, err := upstream.ParseChain(up.URL, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	checker, err := verify.NewSumDB(verify.SumDBOptions{Key: up.GOSUMDB(), URL: up.SumDBURL(), StateDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	opts := modcache.Options{
		Store:   store,
		Route:   func(string) modcache.Route { return modcache.Route{Name: "public", Source: chain, Checker: checker} },
		TempDir: tmp, Logger: quiet, Timeout: 5 * time.Second,
	}
	if tweak != nil {
		tweak(&opts)
	}
	c, err := modcache.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &env{up, store, c, tmp}
}

func readAll(t *testing.T, a *modcache.Artifact) []byte {
	t.Helper()
	defer a.Close()
	data, err := io.ReadAll(a)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestMissThenHit(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	for _, kind := range []goproxy.Kind{goproxy.KindInfo, goproxy.KindMod, goproxy.KindZip} {
		a, err := e.cache.Open(ctx, "example.com/hello", "v1.0.0", kind)
		if err != nil {
			t.Fatalf("%s: %v", kind, err)
		}
		if a.Source != modcache.FromUpstream {
			t.Errorf("%s first: source %s", kind, a.Source)
		}
		if kind != goproxy.KindInfo && !strings.HasPrefix(a.H1, "h1:") {
			t.Errorf("%s: no verified hash", kind)
		}
		first := readAll(t, a)
		a, err = e.cache.Open(ctx, "example.com/hello", "v1.0.0", kind)
		if err != nil || a.Source != modcache.FromCache {
			t.Fatalf("%s second: %v, source %v", kind, err, a)
		}
		if second := readAll(t, a); string(first) != string(second) {
			t.Errorf("%s: cached bytes differ", kind)
		}
	}
	zip := e.up.Artifacts("example.com/hello", "v1.0.0").Zip
	if got := e.up.Count("/example.com/hello/@v/v1.0.0.zip"); got != 1 {
		t.Errorf("upstream saw %d zip requests, want 1", got)
	}
	a, _ := e.cache.Open(ctx, "example.com/hello", "v1.0.0", goproxy.KindZip)
	if got := readAll(t, a); string(got) != string(zip) {
		t.Error("served zip differs from upstream's")
	}
	list, _ := os.ReadFile(e.store.Dir() + "/example.com/hello/@v/list")
	if string(list) != "v1.0.0\n" {
		t.Errorf("stored list = %q", list)
	}
}

func tamperedZip(t *testing.T, e *env, mod, vers string) []byte {
	evil, err := testproxy.BuildZip(mod, vers, map[string]string{
		"go.mod":  string(e.up.Artifacts(mod, vers).Mod),
		"evil.go": "package evil\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	return evil
}

func assertNothingStored(t *testing.T, e *env, mod, vers string, kinds ...goproxy.Kind) {
	t.Helper()
	for _, k := range kinds {
		if _, err := e.store.Stat(context.Background(), goproxy.ArtifactName(mod, vers, k)); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("%s of tampered %s@%s was stored (err %v)", k, mod, vers, err)
		}
	}
	if left, _ := os.ReadDir(e.tmp); len(left) != 0 {
		t.Errorf("temp files left behind: %v", left)
	}
}

func TestTamperedZipRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.up.Tamper("example.com/hello", "v1.0.0", "zip", tamperedZip(t, e, "example.com/hello", "v1.0.0"))
	_, err := e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindZip)
	var me *verify.MismatchError
	if !errors.As(err, &me) {
		t.Fatalf("tampered zip: err = %v, want a checksum mismatch", err)
	}
	assertNothingStored(t, e, "example.com/hello", "v1.0.0", goproxy.KindZip)
}

func TestTamperedModRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.up.Tamper("example.com/hello", "v1.0.0", "mod", []byte("module example.com/hello\n\nrequire example.com/evil v1.0.0\n"))
	_, err := e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindMod)
	var me *verify.MismatchError
	if !errors.As(err, &me) || !strings.Contains(err.Error(), "go.mod") {
		t.Fatalf("tampered go.mod: err = %v, want a go.mod checksum mismatch", err)
	}
	assertNothingStored(t, e, "example.com/hello", "v1.0.0", goproxy.KindMod)
}

func TestMalformedZipRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.up.Tamper("example.com/hello", "v1.0.0", "zip", []byte("PK\x03\x04 this is not a zip"))
	_, err := e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindZip)
	var ie *modcache.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("garbage zip: err = %v, want InvalidError", err)
	}
	assertNothingStored(t, e, "example.com/hello", "v1.0.0", goproxy.KindZip)
}

func TestZipSizeLimit(t *testing.T) {
	e := newEnv(t, func(o *modcache.Options) { o.MaxZipSize = 100 })
	_, err := e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindZip)
	var ie *modcache.InvalidError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("oversized zip: err = %v", err)
	}
	assertNothingStored(t, e, "example.com/hello", "v1.0.0", goproxy.KindZip)
}

func TestInfoForOtherVersionRefused(t *testing.T) {
	e := newEnv(t, nil)
	e.up.Tamper("example.com/hello", "v1.0.0", "info", []byte(`{"Version":"v9.9.9","Time":"2024-01-01T00:00:00Z"}`))
	if _, err := e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindInfo); err == nil {
		t.Fatal(".info naming another version was accepted")
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t, nil)
	_, err := e.cache.Open(context.Background(), "example.com/nosuch", "v1.0.0", goproxy.KindMod)
	if !errors.Is(err, upstream.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

// Concurrent requests for one missing artifact make one upstream fetch.
func TestSingleflight(t *testing.T) {
	e := newEnv(t, nil)
	e.up.SetDelay(200 * time.Millisecond)
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindZip)
			if err == nil {
				_, err = io.Copy(io.Discard, a)
				a.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := e.up.Count("/example.com/hello/@v/v1.0.0.zip"); got != 1 {
		t.Errorf("20 concurrent misses made %d upstream fetches, want 1", got)
	}
}

func TestUpstreamTimeout(t *testing.T) {
	e := newEnv(t, func(o *modcache.Options) { o.Timeout = 100 * time.Millisecond })
	e.up.SetDelay(2 * time.Second)
	start := time.Now()
	_, err := e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindMod)
	var ue *modcache.UpstreamError
	if !errors.As(err, &ue) || !ue.Timeout() {
		t.Fatalf("err = %v, want an upstream timeout", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("timeout took %v", d)
	}
}

// A request that storage can answer never queues behind a slow upstream.
func TestHitDoesNotWaitBehindMiss(t *testing.T) {
	e := newEnv(t, func(o *modcache.Options) { o.MaxFetches = 1 })
	ctx := context.Background()
	a, err := e.cache.Open(ctx, "example.com/greet", "v1.0.0", goproxy.KindZip)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	e.up.SetDelay(1500 * time.Millisecond)
	missCtx, cancel := context.WithCancel(ctx)
	var misses sync.WaitGroup
	defer func() { cancel(); misses.Wait() }()
	misses.Go(func() { e.cache.Open(missCtx, "example.com/hello", "v1.0.0", goproxy.KindZip) })
	misses.Go(func() { e.cache.Open(missCtx, "example.com/hello/v2", "v2.0.0", goproxy.KindZip) })
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	a, err = e.cache.Open(ctx, "example.com/greet", "v1.0.0", goproxy.KindZip)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("cache hit took %v behind slow misses", d)
	}
}

func TestListAndLatestFallBackToStore(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	list, src, err := e.cache.List(ctx, "example.com/greet")
	if err != nil || strings.Join(list, " ") != "v1.0.0 v1.1.0" || src != modcache.FromUpstream {
		t.Fatalf("List = %v %s %v", list, src, err)
	}
	for _, v := range []string{"v1.0.0", "v1.1.0"} {
		a, err := e.cache.Open(ctx, "example.com/greet", v, goproxy.KindInfo)
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
	}
	e.up.SetStatus(http.StatusServiceUnavailable)
	list, src, err = e.cache.List(ctx, "example.com/greet")
	if err != nil || strings.Join(list, " ") != "v1.0.0 v1.1.0" || src != modcache.FromCache {
		t.Fatalf("List with upstream down = %v %s %v", list, src, err)
	}
	info, src, err := e.cache.Latest(ctx, "example.com/greet")
	if err != nil || !strings.Contains(string(info), "v1.1.0") || src != modcache.FromCache {
		t.Fatalf("Latest with upstream down = %s %s %v", info, src, err)
	}
	if _, _, err := e.cache.List(ctx, "example.com/hello"); err == nil {
		t.Error("List of an uncached module with upstream down succeeded")
	}
}

func TestPickLatest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"v1.0.0 v1.2.0 v1.10.0", "v1.10.0"},
		{"v1.0.0 v2.0.0-rc.1", "v1.0.0"},
		{"v2.0.0-rc.1 v2.0.0-rc.2 v0.0.0-20240101000000-abcdefabcdef", "v2.0.0-rc.2"},
		{"v0.0.0-20230101000000-abcdefabcdef v0.0.0-20240101000000-abcdefabcdef", "v0.0.0-20240101000000-abcdefabcdef"},
	}
	for _, tt := range tests {
		if got := modcache.PickLatest(strings.Fields(tt.in)); got != tt.want {
			t.Errorf("PickLatest(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
