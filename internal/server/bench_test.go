package server_test

import (
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
)

// bigModule is a module with a ~1 MiB incompressible file, so the zip
// benchmark measures streaming, not headers.
const bigModule = "example.com/big"

func warmEnv(b testing.TB) *testEnv {
	e := newTestEnv(b)
	data := make([]byte, 1<<20)
	rand.Read(data)
	if err := e.up.Add(bigModule, "v1.0.0", map[string]string{
		"go.mod":   "module example.com/big\n",
		"blob.txt": fmt.Sprintf("%x", data[:512<<10]),
	}, time.Now()); err != nil {
		b.Fatal(err)
	}
	for _, k := range []string{"info", "mod", "zip"} {
		resp, body := do(b, "GET", e.srv.URL+"/"+bigModule+"/@v/v1.0.0."+k)
		if resp.StatusCode != 200 {
			b.Fatalf("warming %s: %d %s", k, resp.StatusCode, body)
		}
	}
	return e
}

// discard is a ResponseWriter that throws the body away.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func benchHandler(b *testing.B, h http.Handler, path string) {
	req := httptest.NewRequest("GET", path, nil)
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		h.ServeHTTP(&discard{h: http.Header{}}, req)
	}
	cpu.report(b)
}

// benchHTTP fetches path from a real HTTP server on loopback with a
// keep-alive client: the cost of a hit as the go command sees it.
func benchHTTP(b *testing.B, h http.Handler, path string) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	client := srv.Client()
	b.ReportAllocs()
	cpu := startCPU()
	for b.Loop() {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	cpu.report(b)
}

// cpuClock measures the process's CPU time (user+system) per operation,
// which other processes on a busy machine disturb far less than the wall
// clock that ns/op reports.
type cpuClock struct{ start time.Duration }

func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func startCPU() cpuClock { return cpuClock{processCPU()} }

func (c cpuClock) report(b *testing.B) {
	b.ReportMetric(float64(processCPU()-c.start)/float64(b.N), "cpu-ns/op")
}

func BenchmarkHit(b *testing.B) {
	e := warmEnv(b)
	h := e.srv.Config.Handler
	files := http.FileServer(http.Dir(e.store.Dir()))
	for _, kind := range []goproxy.Kind{goproxy.KindInfo, goproxy.KindMod, goproxy.KindZip} {
		path := "/" + goproxy.ArtifactName(bigModule, "v1.0.0", kind)
		fi, err := os.Stat(filepath.Join(e.store.Dir(), filepath.FromSlash(path)))
		if err != nil {
			b.Fatal(err)
		}
		b.Run(string(kind)+"/gatehouse", func(b *testing.B) {
			b.SetBytes(fi.Size())
			benchHandler(b, h, path)
		})
		b.Run(string(kind)+"/FileServer", func(b *testing.B) {
			b.SetBytes(fi.Size())
			benchHandler(b, files, path)
		})
		b.Run(string(kind)+"/gatehouse-http", func(b *testing.B) {
			b.SetBytes(fi.Size())
			benchHTTP(b, h, path)
		})
		b.Run(string(kind)+"/FileServer-http", func(b *testing.B) {
			b.SetBytes(fi.Size())
			benchHTTP(b, files, path)
		})
	}
}

// Memory does not grow with the size of the store: serving hits spread
// over 3000 stored modules uses no more heap than over a handful.
func TestMemoryFlatWithLargeStore(t *testing.T) {
	if testing.Short() {
		t.Skip("fills a store with thousands of modules")
	}
	e := newTestEnv(t)
	mod := e.up.Artifacts("example.com/greet", "v1.0.0")
	const n = 3000
	for i := range n {
		dir := filepath.Join(e.store.Dir(), "example.com", fmt.Sprintf("m%04d", i), "@v")
		os.MkdirAll(dir, 0o755)
		os.WriteFile(filepath.Join(dir, "v1.0.0.info"), []byte(`{"Version":"v1.0.0","Time":"2024-01-01T00:00:00Z"}`), 0o644)
		os.WriteFile(filepath.Join(dir, "v1.0.0.mod"), []byte(fmt.Sprintf("module example.com/m%04d\n", i)), 0o644)
		os.WriteFile(filepath.Join(dir, "v1.0.0.zip"), mod.Zip, 0o644)
	}
	h := e.srv.Config.Handler
	serve := func(modules int) uint64 {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range 6000 {
			for _, k := range []string{"info", "mod", "zip"} {
				path := fmt.Sprintf("/example.com/m%04d/@v/v1.0.0.%s", i%modules, k)
				rec := &discard{h: http.Header{}}
				h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
			}
		}
		e.done = nil // the test's own record of requests is not the server's memory
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if after.HeapAlloc < before.HeapAlloc {
			return 0
		}
		return after.HeapAlloc - before.HeapAlloc
	}
	small := serve(10)
	large := serve(n)
	t.Logf("heap growth after 18000 hits: %d bytes over 10 modules, %d bytes over %d modules", small, large, n)
	if large > 1<<20 || large > small+256<<10 {
		t.Errorf("heap grew by %d bytes serving %d stored modules (%d over 10)", large, n, small)
	}
}

// BenchmarkHitParallelHTTP is the loopback load test: 16 keep-alive clients
// per core (32 on 2 cores) fetch the same .mod or zip at once, as a CI
// fleet's go commands would, from gatehouse and from a bare FileServer on
// the same files. It is bounded by -benchtime like any benchmark.
func BenchmarkHitParallelHTTP(b *testing.B) {
	e := warmEnv(b)
	files := http.FileServer(http.Dir(e.store.Dir()))
	for _, kind := range []goproxy.Kind{goproxy.KindMod, goproxy.KindZip} {
		path := "/" + goproxy.ArtifactName(bigModule, "v1.0.0", kind)
		b.Run(string(kind)+"/gatehouse", func(b *testing.B) { benchParallel(b, e.srv.Config.Handler, path) })
		b.Run(string(kind)+"/FileServer", func(b *testing.B) { benchParallel(b, files, path) })
	}
}

// BenchmarkListParallelHTTP is the load test of @v/list and @latest on a
// warm store in front of an upstream 20 ms away: kept answers make them
// independent of the round trip. It reports requests per second.
func BenchmarkListParallelHTTP(b *testing.B) {
	e := newTestEnvWith(b, func(o *modcache.Options) { o.ListTTL, o.ListMaxStale = time.Minute, time.Hour })
	e.up.SetDelay(20 * time.Millisecond)
	for _, path := range []string{"/example.com/greet/@v/list", "/example.com/greet/@latest"} {
		if resp, body := do(b, "GET", e.srv.URL+path); resp.StatusCode != 200 {
			b.Fatalf("warming %s: %d %s", path, resp.StatusCode, body)
		}
		b.Run(strings.TrimPrefix(path, "/example.com/greet/"), func(b *testing.B) {
			benchParallel(b, e.srv.Config.Handler, path)
		})
	}
}

func benchParallel(b *testing.B, h http.Handler, path string) {
	srv := httptest.NewServer(h)
	defer srv.Close()
	tr := srv.Client().Transport.(*http.Transport)
	tr.MaxIdleConnsPerHost = 64
	url := srv.URL + path
	b.SetParallelism(16)
	b.ReportAllocs()
	cpu := startCPU()
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			resp, err := srv.Client().Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "req/s")
	cpu.report(b)
}

// BenchmarkColdPhases downloads every fixture version into an empty store
// the way the go command asks for a build (every .mod, then every .info,
// then every .zip, one at a time), 20 ms from the upstream, with prefetch
// off and on. It reports the wall time of one cold build.
func BenchmarkColdPhases(b *testing.B) {
	versions := [][2]string{
		{"example.com/hello/v2", "v2.0.0"}, {"example.com/greet", "v1.0.0"}, {"example.com/greet", "v1.1.0"},
		{"example.com/hello", "v1.0.0"}, {"example.com/lib", "v1.0.0"}, {"example.com/lib", "v1.1.0"},
		{"example.com/lib", "v1.2.0"}, {"example.com/lib", "v1.3.0"},
	}
	for _, workers := range []int{0, 8} {
		b.Run(fmt.Sprintf("prefetch=%d", workers), func(b *testing.B) {
			var upstream int
			for b.Loop() {
				b.StopTimer()
				e := newTestEnvWith(b, func(o *modcache.Options) { o.PrefetchWorkers = workers })
				e.up.SetDelay(20 * time.Millisecond)
				b.StartTimer()
				for _, kind := range []string{"mod", "info", "zip"} {
					for _, v := range versions {
						if resp, body := do(b, "GET", e.srv.URL+"/"+v[0]+"/@v/"+v[1]+"."+kind); resp.StatusCode != 200 {
							b.Fatalf("%s@%s.%s: %d %s", v[0], v[1], kind, resp.StatusCode, body)
						}
					}
				}
				b.StopTimer()
				for e.cache.PrefetchesPending() > 0 {
					time.Sleep(time.Millisecond)
				}
				upstream += e.up.TotalCount()
				e.srv.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(upstream)/float64(b.N)/float64(len(versions)), "upstream-req/version")
		})
	}
}
