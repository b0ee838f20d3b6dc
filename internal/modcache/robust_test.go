package modcache_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// fullDisk wraps the real fs store and, while full is set, fails every Put
// with ENOSPC after the first KiB, as a full disk does mid-write. A wrapper
// because a real full file system needs a mount (root, and not portable);
// the partial write still goes through the real store's Put.
type fullDisk struct {
	storage.Backend
	full atomic.Bool
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func (d *fullDisk) Put(ctx context.Context, name string, r io.Reader) error {
	if d.full.Load() {
		r = io.MultiReader(io.LimitReader(r, 1024), errReader{syscall.ENOSPC})
	}
	return d.Backend.Put(ctx, name, r)
}

// filesUnder lists every file below dir, temporary ones included.
func filesUnder(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	return files
}

// A full disk: the fetch fails with a storage error, nothing (not even a
// temporary file) is left in the store, and the next request fetches again
// and succeeds once there is room.
func TestDiskFullStoresNothingAndRetries(t *testing.T) {
	var disk *fullDisk
	e := newEnv(t, func(o *modcache.Options) {
		disk = &fullDisk{Backend: o.Store}
		o.Store = disk
	})
	ctx := context.Background()
	for _, kind := range []goproxy.Kind{goproxy.KindInfo, goproxy.KindMod, goproxy.KindZip} {
		disk.full.Store(true)
		_, err := e.cache.Open(ctx, "example.com/hello", "v1.0.0", kind)
		var se *modcache.StorageError
		if !errors.As(err, &se) || !errors.Is(err, syscall.ENOSPC) {
			t.Fatalf("%s on a full disk: err = %v, want a StorageError with ENOSPC", kind, err)
		}
		if left := filesUnder(t, e.store.Dir()); len(left) != 0 {
			t.Fatalf("%s on a full disk left files in the store: %v", kind, left)
		}
		if left, _ := os.ReadDir(e.tmp); len(left) != 0 {
			t.Fatalf("%s on a full disk left temp files: %v", kind, left)
		}
		disk.full.Store(false)
		a, err := e.cache.Open(ctx, "example.com/hello", "v1.0.0", kind)
		if err != nil {
			t.Fatalf("%s after the disk has room: %v", kind, err)
		}
		a.Close()
		// Remove it again so the next kind starts from an empty store.
		for _, f := range filesUnder(t, e.store.Dir()) {
			os.Remove(f)
		}
	}
	if got := e.up.Count("/example.com/hello/@v/v1.0.0.zip"); got != 2 {
		t.Errorf("upstream saw %d zip requests, want 2 (the failed fetch is not remembered)", got)
	}
}

// The store's directory removed under a running server: requests fail
// with a storage error (no panic), and the store reports itself unwritable.
func TestStoreDirRemoved(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	if err := os.RemoveAll(e.store.Dir()); err != nil {
		t.Fatal(err)
	}
	_, err := e.cache.Open(ctx, "example.com/hello", "v1.0.0", goproxy.KindMod)
	var se *modcache.StorageError
	if !errors.As(err, &se) {
		t.Fatalf("Open with the store removed: err = %v, want a StorageError", err)
	}
	if err := e.cache.Writable(ctx); err == nil {
		t.Error("Writable succeeded with the store removed")
	}
}

// garbage is an upstream proxy that answers each path with a handler.
func garbageEnv(t *testing.T, routes map[string]http.HandlerFunc, timeout time.Duration) (*env, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h, ok := routes[r.URL.Path]; ok {
			h(w, r)
			return
		}
		http.NotFound(w, r)
	}))
	t.Cleanup(srv.Close)
	chain, err := upstream.ParseChain(srv.URL, srv.Client())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(o *modcache.Options) {
		// No checker: these answers must be refused on their own merits,
		// as on a route without checksum verification.
		o.Route = func(string) modcache.Route { return modcache.Route{Name: "public", Source: chain} }
		o.Timeout = timeout
		o.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	})
	return e, srv
}

func body(s string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, s) }
}

// hang sends the headers, then nothing, until the client gives up.
func hang(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	io.WriteString(w, "{")
	w.(http.Flusher).Flush()
	<-r.Context().Done()
}

// Malformed answers from an upstream are refused with a clear error and
// nothing is stored; the go command would refuse most of them too, but a
// stored artifact is immutable and served to everyone.
func TestUpstreamGarbageRefused(t *testing.T) {
	const mod, vers = "example.com/m", "v1.0.0"
	goodZip, err := testproxy.BuildZip(mod, vers, map[string]string{"go.mod": "module example.com/m\n", "m.go": "package m\n"})
	if err != nil {
		t.Fatal(err)
	}
	otherZip, err := testproxy.BuildZip("example.com/other", vers, map[string]string{"go.mod": "module example.com/other\n"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		kind    goproxy.Kind
		handler http.HandlerFunc
		want    string // in the error
		timeout bool
	}{
		{"info is an HTML page", goproxy.KindInfo, body("<!DOCTYPE html><html><body>Sign in</body></html>"), "invalid .info", false},
		{"info for a non-canonical version", goproxy.KindInfo, body(`{"Version":"v1.0","Time":"2024-01-01T00:00:00Z"}`), "invalid version", false},
		{"info with a garbage time", goproxy.KindInfo, body(`{"Version":"v1.0.0","Time":"yesterday"}`), "invalid .info", false},
		{"info without a time", goproxy.KindInfo, body(`{"Version":"v1.0.0"}`), "no time", false},
		{"info larger than 1 MiB", goproxy.KindInfo, body(strings.Repeat(" ", 2<<20)), "larger than", false},
		{"info headers then nothing", goproxy.KindInfo, hang, "", true},
		{"zip is an HTML page", goproxy.KindZip, body("<html>502 Bad Gateway</html>"), "invalid zip", false},
		{"zip truncated", goproxy.KindZip, body(string(goodZip[:len(goodZip)/2])), "invalid zip", false},
		{"zip of another module", goproxy.KindZip, body(string(otherZip)), "invalid zip", false},
		{"zip shorter than its Content-Length", goproxy.KindZip, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100000")
			w.Write(goodZip)
		}, "reading zip", false},
		{"zip longer than its Content-Length", goproxy.KindZip, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.Write(bytes.Repeat(goodZip, 100))
		}, "zip", false}, // the client sees a short or broken body
		{"zip headers then nothing", goproxy.KindZip, hang, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "/" + mod + "/@v/" + vers + "." + string(tt.kind)
			e, _ := garbageEnv(t, map[string]http.HandlerFunc{path: tt.handler}, 500*time.Millisecond)
			start := time.Now()
			_, err := e.cache.Open(context.Background(), mod, vers, tt.kind)
			if err == nil {
				t.Fatal("accepted")
			}
			if tt.timeout {
				var ue *modcache.UpstreamError
				if !errors.As(err, &ue) || !ue.Timeout() {
					t.Errorf("err = %v, want an upstream timeout", err)
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Errorf("gave up after %v", d)
				}
			} else if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %q, want one line containing %q", err, tt.want)
			}
			if left := filesUnder(t, e.store.Dir()); len(left) != 0 {
				t.Errorf("stored: %v", left)
			}
			if left, _ := os.ReadDir(e.tmp); len(left) != 0 {
				t.Errorf("temp files left behind: %v", left)
			}
		})
	}
}

// A version list with junk keeps only canonical versions; an oversized
// one and an @latest that is not .info JSON are errors, not panics.
func TestUpstreamGarbageListAndLatest(t *testing.T) {
	const mod = "example.com/m"
	var list bytes.Buffer
	list.WriteString("<html>\nv1.0\nv1.2.0 2024-01-01T00:00:00Z\n\n  v1.1.0  \nnot-a-version\nv1.2.0\n")
	list.WriteString("v9" + strings.Repeat("9", 1<<20) + ".0.0\n") // a 1 MiB line
	list.WriteString("v2.0.0+incompatible\nv1.3.0-0.20240101000000-abcdefabcdef\n\x00\xff\n")
	e, _ := garbageEnv(t, map[string]http.HandlerFunc{
		"/" + mod + "/@v/list":     body(list.String()),
		"/" + mod + "/@latest":     body("<html>not json</html>"),
		"/example.com/big/@v/list": body(strings.Repeat("v1.0.0\n", 3<<20)), // 21 MiB
	}, 5*time.Second)
	ctx := context.Background()
	got, _, err := e.cache.List(ctx, mod)
	if err != nil {
		t.Fatal(err)
	}
	if want := "v1.1.0 v1.2.0 v1.3.0-0.20240101000000-abcdefabcdef v2.0.0+incompatible"; strings.Join(got, " ") != want {
		t.Errorf("List = %.300q, want %s", got, want)
	}
	if _, _, err := e.cache.List(ctx, "example.com/big"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("21 MiB list: err = %v, want a size error", err)
	}
	_, _, err = e.cache.Latest(ctx, mod)
	var ie *modcache.InvalidError
	if !errors.As(err, &ie) {
		t.Errorf("@latest junk: err = %v, want InvalidError", err)
	}
}

// Zips staged by a process that died mid-fetch are removed at the next
// start; a fresh one (another process's fetch under way) and other files stay.
func TestStaleStagedZipsRemovedAtStart(t *testing.T) {
	tmp := t.TempDir()
	old := time.Now().Add(-time.Hour)
	for name, mtime := range map[string]time.Time{"zip-crashed": old, "zip-fetching": time.Now(), "other": old} {
		p := filepath.Join(tmp, name)
		os.WriteFile(p, []byte("PK"), 0o600)
		os.Chtimes(p, mtime, mtime)
	}
	newEnv(t, func(o *modcache.Options) { o.TempDir, o.Timeout = tmp, time.Minute })
	for name, want := range map[string]bool{"zip-crashed": false, "zip-fetching": true, "other": true} {
		if _, err := os.Stat(filepath.Join(tmp, name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}
}

// countingObserver records fetch results.
type countingObserver struct {
	mu      sync.Mutex
	results map[string]int
	running int
}

func (o *countingObserver) FetchStarted() { o.mu.Lock(); o.running++; o.mu.Unlock() }
func (o *countingObserver) FetchDone(route, result string, d time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.running--
	o.results[route+" "+result]++
}
func (o *countingObserver) VerificationFailed() {}

// panicSource panics on every call.
type panicSource struct{ upstream.Source }

func (panicSource) List(context.Context, string) ([]string, error) { panic("upstream bug") }
func (panicSource) Info(context.Context, string, string) ([]byte, error) {
	panic("upstream bug")
}

// A panic inside a fetch is an error to the client and to the metrics,
// and the fetch is no longer counted as running.
func TestPanicInFetchIsAnError(t *testing.T) {
	obs := &countingObserver{results: map[string]int{}}
	e := newEnv(t, func(o *modcache.Options) {
		o.Route = func(string) modcache.Route { return modcache.Route{Name: "public", Source: panicSource{}} }
		o.Observer = obs
	})
	if _, _, err := e.cache.List(context.Background(), "example.com/hello"); err == nil {
		t.Error("List: no error from a panicking source")
	}
	if _, err := e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindInfo); err == nil {
		t.Error("Open: no error from a panicking source")
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if obs.results["public error"] != 2 || obs.results["public ok"] != 0 || obs.running != 0 {
		t.Errorf("observed %v, %d running; want 2 errors, none running", obs.results, obs.running)
	}
}
