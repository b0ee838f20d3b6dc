package modcache_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
)

// A zip fetched upstream is streamed to disk, checked and stored without
// being held whole in memory: fetching a 2 MiB zip allocates less than
// half its size (reading it whole would allocate more than all of it).
func TestZipFetchIsStreamed(t *testing.T) {
	// The race detector slows hashing a large zip; the point is memory, not speed.
	e := newEnv(t, func(o *modcache.Options) { o.Timeout = time.Minute })
	const size = 4 << 20
	raw := make([]byte, size/2)
	rand.Read(raw)
	// Hex keeps the file a valid UTF-8 string; it compresses to about half.
	big := hex.EncodeToString(raw)
	if err := e.up.Add("example.com/big", "v1.0.0", map[string]string{"go.mod": "module example.com/big\n", "data.txt": big}, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	raw, big = nil, ""
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	a, err := e.cache.Open(context.Background(), "example.com/big", "v1.0.0", goproxy.KindZip)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, a)
	a.Close()
	runtime.ReadMemStats(&after)
	if n < size/4 {
		t.Fatalf("zip of %d bytes, want a large one", n)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > uint64(n)/2 {
		t.Errorf("fetching a %d-byte zip allocated %d bytes: it is held in memory", n, alloc)
	} else {
		t.Logf("fetching a %d-byte zip allocated %d bytes", n, alloc)
	}
}
