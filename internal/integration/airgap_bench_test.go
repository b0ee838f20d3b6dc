package integration

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// benchUpstream holds n modules of about size bytes each (incompressible,
// so MB/s are of real bytes), and returns their module@version list.
func benchUpstream(b *testing.B, n, size int) (*testproxy.Server, []string) {
	up := testproxy.New(b)
	r := rand.New(rand.NewPCG(1, 2))
	var mods []string
	for i := range n {
		path := fmt.Sprintf("example.com/bench%d", i)
		blob := make([]byte, size*3/4)
		for j := range blob {
			blob[j] = byte(r.IntN(256))
		}
		// Base64-ish text: a Go file holding random data.
		data := fmt.Sprintf("package bench\n\nconst Blob = %q\n", blob)
		if err := up.Add(path, "v1.0.0", map[string]string{"go.mod": "module " + path + "\n", "blob.go": data}, time.Now().Add(-time.Hour)); err != nil {
			b.Fatal(err)
		}
		mods = append(mods, path+"@v1.0.0")
	}
	return up, mods
}

func dirBytes(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.Mode().IsRegular() && filepath.Ext(p) == ".zip" {
			n += info.Size()
		}
		return nil
	})
	return n
}

// BenchmarkMirror: gatehouse mirror of a list into an empty store, against
// plain go mod download of the same list straight from the upstream.
func BenchmarkMirror(b *testing.B) {
	up, mods := benchUpstream(b, 20, 1<<20)
	b.Run("gatehouse-mirror", func(b *testing.B) {
		var bytes int64
		for range b.N {
			data := b.TempDir()
			args := append([]string{"mirror", "--data", data, "--upstream", up.URL, "--sumdb", up.GOSUMDB(), "--jobs", "8"}, mods...)
			if out, err := runGatehouse(b, args...); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
			bytes += dirBytes(data)
		}
		b.ReportMetric(float64(bytes)/1e6/b.Elapsed().Seconds(), "MB/s")
		b.ReportMetric(float64(len(mods)*b.N)/b.Elapsed().Seconds(), "modules/s")
	})
	b.Run("go-mod-download", func(b *testing.B) {
		var bytes int64
		for range b.N {
			env := testutil.GoEnv(b, "GOPROXY="+up.URL, "GOSUMDB="+up.GOSUMDB())
			cache := ""
			for _, e := range env {
				if v, ok := strings.CutPrefix(e, "GOMODCACHE="); ok {
					cache = v
				}
			}
			testutil.MustGo(b, b.TempDir(), env, append([]string{"mod", "download"}, mods...)...)
			bytes += dirBytes(filepath.Join(cache, "cache", "download"))
		}
		b.ReportMetric(float64(bytes)/1e6/b.Elapsed().Seconds(), "MB/s")
		b.ReportMetric(float64(len(mods)*b.N)/b.Elapsed().Seconds(), "modules/s")
	})
}

// BenchmarkExportImport: MB/s of export and of import (which checks every
// hash and proof) of a 20 MB store.
func BenchmarkExportImport(b *testing.B) {
	up, mods := benchUpstream(b, 20, 1<<20)
	data := b.TempDir()
	if out, err := runGatehouse(b, append([]string{"mirror", "--data", data, "--upstream", up.URL, "--sumdb", up.GOSUMDB()}, mods...)...); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	size := dirBytes(data)
	bundle := filepath.Join(b.TempDir(), "b.tar")
	b.Run("export", func(b *testing.B) {
		for range b.N {
			if out, err := runGatehouse(b, "export", "--data", data, "--sumdb", up.GOSUMDB(), "-o", bundle); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
		b.ReportMetric(float64(size*int64(b.N))/1e6/b.Elapsed().Seconds(), "MB/s")
	})
	b.Run("import", func(b *testing.B) {
		for range b.N {
			if out, err := runGatehouse(b, "import", "--data", b.TempDir(), "--sumdb-key", up.GOSUMDB(), bundle); err != nil {
				b.Fatalf("%v\n%s", err, out)
			}
		}
		b.ReportMetric(float64(size*int64(b.N))/1e6/b.Elapsed().Seconds(), "MB/s")
	})
}
