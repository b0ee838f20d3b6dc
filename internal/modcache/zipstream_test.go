package modcache_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

// gatedChecker lets a test hold a verification: Check waits for release
// after telling checking, then asks the real checker.
type gatedChecker struct {
	inner    verify.Checker
	checking chan string
	release  chan struct{}
}

func (g *gatedChecker) Check(ctx context.Context, path, version, h1 string) error {
	g.checking <- version
	<-g.release
	return g.inner.Check(ctx, path, version, h1)
}

// bigFiles is a module of about size bytes that compresses little.
func bigFiles(modPath string, size int) map[string]string {
	raw := make([]byte, size/2)
	rand.Read(raw)
	return map[string]string{"go.mod": "module " + modPath + "\n", "data.txt": hex.EncodeToString(raw)}
}

// reader collects what a ZipStream yields, in the background.
type reader struct {
	mu   sync.Mutex
	got  []byte
	err  error
	done chan struct{}
}

func follow(zs *modcache.ZipStream) *reader {
	r := &reader{done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]byte, 16<<10)
		for {
			n, err := zs.Read(buf)
			r.mu.Lock()
			r.got = append(r.got, buf[:n]...)
			if err != nil {
				r.err = err
				r.mu.Unlock()
				return
			}
			r.mu.Unlock()
		}
	}()
	return r
}

func (r *reader) bytes() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]byte(nil), r.got...)
}

// settled waits until r has stopped receiving for a while.
func (r *reader) settled() []byte {
	prev := -1
	for {
		time.Sleep(100 * time.Millisecond)
		b := r.bytes()
		if len(b) == prev {
			return b
		}
		prev = len(b)
	}
}

// A zip is streamed to the client while it is being verified, except its
// end: the part with the central directory and the end record stays held
// back until the checksum database has vouched for it, so what the client
// has meanwhile cannot be opened as a zip. Then the rest follows.
func TestZipStreamHoldsBackUntilVerified(t *testing.T) {
	gate := &gatedChecker{checking: make(chan string, 1), release: make(chan struct{})}
	e := newEnv(t, func(o *modcache.Options) {
		route := o.Route("")
		gate.inner = route.Checker
		route.Checker = gate
		o.Route = func(string) modcache.Route { return route }
	})
	if err := e.up.Add("example.com/big", "v1.0.0", bigFiles("example.com/big", 1<<20), time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := e.up.Artifacts("example.com/big", "v1.0.0").Zip
	a, zs, err := e.cache.OpenZip(context.Background(), "example.com/big", "v1.0.0")
	if err != nil || a != nil || zs == nil {
		t.Fatalf("OpenZip of a zip not stored: %v %v %v, want a stream", a, zs, err)
	}
	defer zs.Close()
	r := follow(zs)
	select {
	case <-gate.checking:
	case <-time.After(10 * time.Second):
		t.Fatal("never verified")
	}
	early := r.settled()
	cd := bytes.LastIndex(want, []byte("PK\x01\x02\x14")) // the central directory starts before
	if len(early) < len(want)/2 {
		t.Errorf("only %d of %d bytes streamed before verification", len(early), len(want))
	}
	if len(early) > len(want)-(22+65535) || bytes.Contains(early, []byte("PK\x05\x06")) {
		t.Errorf("%d of %d bytes sent before verification: the end record is not held back", len(early), len(want))
	}
	if cdStart := bytes.Index(want, []byte("PK\x01\x02")); len(early) > cdStart || cd < 0 {
		t.Errorf("%d bytes sent before verification; the central directory starts at %d", len(early), cdStart)
	}
	if _, err := zip.NewReader(bytes.NewReader(early), int64(len(early))); err == nil {
		t.Error("what was sent before verification opens as a zip")
	}
	if _, err := e.store.Stat(context.Background(), goproxy.ArtifactName("example.com/big", "v1.0.0", goproxy.KindZip)); err == nil {
		t.Error("stored before verification")
	}
	close(gate.release)
	<-r.done
	if !errors.Is(r.err, io.EOF) || !bytes.Equal(r.bytes(), want) {
		t.Fatalf("after verification: %d bytes, err %v; want the %d-byte zip", len(r.bytes()), r.err, len(want))
	}
	if _, h1, ok := zs.Verified(); !ok || !strings.HasPrefix(h1, "h1:") {
		t.Errorf("Verified() = %q %v", h1, ok)
	}
	// Stored by then, and served from the store from now on.
	a, zs2, err := e.cache.OpenZip(context.Background(), "example.com/big", "v1.0.0")
	if err != nil || a == nil || zs2 != nil || a.Source != modcache.FromCache {
		t.Fatalf("second OpenZip: %v %v %v, want a stored artifact", a, zs2, err)
	}
	a.Close()
}

// A zip whose hash does not match is refused after most of it has been
// streamed: the client's read fails with the mismatch, what it got is not
// a zip, and nothing is stored (no staging file left either).
func TestZipStreamMismatchMidStream(t *testing.T) {
	e := newEnv(t, nil)
	files := bigFiles("example.com/big", 1<<20)
	if err := e.up.Add("example.com/big", "v1.0.0", files, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	files["data.txt"] = strings.Replace(files["data.txt"], files["data.txt"][:8], "deadbeef", 1)
	evil, err := testproxy.BuildZip("example.com/big", "v1.0.0", files)
	if err != nil {
		t.Fatal(err)
	}
	e.up.Tamper("example.com/big", "v1.0.0", "zip", evil)

	for _, waiters := range []int{1, 3} { // the fetcher's client, and others following
		var readers []*reader
		for range waiters {
			a, zs, err := e.cache.OpenZip(context.Background(), "example.com/big", "v1.0.0")
			if err != nil {
				var me *verify.MismatchError
				if !errors.As(err, &me) {
					t.Fatalf("OpenZip: %v", err)
				}
				continue // it ended before this one came
			}
			if a != nil {
				t.Fatal("a tampered zip was served from the store")
			}
			defer zs.Close()
			readers = append(readers, follow(zs))
		}
		for _, r := range readers {
			<-r.done
			got := r.bytes()
			var me *verify.MismatchError
			if !errors.As(r.err, &me) {
				t.Errorf("read ended with %v, want the mismatch", r.err)
			}
			if len(got) >= len(evil) || len(got) > len(evil)-(22+65535) {
				t.Errorf("%d of the tampered zip's %d bytes were sent", len(got), len(evil))
			}
			if waiters == 1 && len(got) < len(evil)/2 {
				t.Errorf("only %d of %d bytes were streamed: the mismatch was not met mid-stream", len(got), len(evil))
			}
			if _, err := zip.NewReader(bytes.NewReader(got), int64(len(got))); err == nil {
				t.Error("the client got a tampered zip that opens")
			}
		}
	}
	dir := filepath.Join(e.store.Dir(), "example.com", "big", "@v")
	entries, _ := os.ReadDir(dir)
	for _, en := range entries {
		if strings.HasSuffix(en.Name(), ".zip") || strings.HasPrefix(en.Name(), ".tmp-") {
			t.Errorf("left in the store: %s", en.Name())
		}
	}
}

// A transfer that broke off is retried from the beginning; if the retry
// brings other bytes than the ones already streamed, the zip is refused
// (a client may hold the first ones already) and nothing is stored.
func TestZipStreamRetryMustMatch(t *testing.T) {
	var e *env
	front, zips := brokenZips(t, &e, 1)
	e = newEnv(t, throughFront(front))
	mod := e.up.Artifacts("example.com/hello", "v1.0.0")
	other, err := testproxy.BuildZip("example.com/hello", "v1.0.0", map[string]string{
		"go.mod": string(mod.Mod), "hello.go": "package hello\n\n// other bytes after the break\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	e.up.Tamper("example.com/hello", "v1.0.0", "zip", other)
	_, err = e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindZip)
	var ie *modcache.InvalidError
	if !errors.As(err, &ie) || !strings.Contains(err.Error(), "different bytes") {
		t.Fatalf("err = %v, want the retry refused as different", err)
	}
	if n := zips.Load(); n != 2 {
		t.Errorf("%d zip requests, want 2", n)
	}
	dir := filepath.Join(e.store.Dir(), "example.com", "hello", "@v")
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("left in the store: %v", left)
	}
}

// A zip of many small files has a central directory far longer than the
// end record's hold-back: before verification, the fetcher's client and
// one joining mid-stream hold no byte of the central directory, and
// nothing that opens as a zip.
func TestZipStreamHoldsBackLongCentralDirectory(t *testing.T) {
	gate := &gatedChecker{checking: make(chan string, 1), release: make(chan struct{})}
	e := newEnv(t, func(o *modcache.Options) {
		route := o.Route("")
		gate.inner = route.Checker
		route.Checker = gate
		o.Route = func(string) modcache.Route { return route }
	})
	files := bigFiles("example.com/many", 256<<10)
	for i := range 4000 {
		files["f/"+strings.Repeat("x", 40)+hex.EncodeToString([]byte{byte(i >> 8), byte(i)})+".go"] = "package f\n"
	}
	if err := e.up.Add("example.com/many", "v1.0.0", files, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	want := e.up.Artifacts("example.com/many", "v1.0.0").Zip
	zr, err := zip.NewReader(bytes.NewReader(want), int64(len(want)))
	if err != nil {
		t.Fatal(err)
	}
	cdStart := bytes.LastIndex(want, []byte("PK\x05\x06"))        // end record
	cdStart -= int(binary.LittleEndian.Uint32(want[cdStart+12:])) // minus the directory's size
	if len(want)-cdStart < 4*(22+65535) || len(zr.File) < 4000 {
		t.Fatalf("central directory of %d bytes: not longer than the hold-back", len(want)-cdStart)
	}
	_, zs, err := e.cache.OpenZip(context.Background(), "example.com/many", "v1.0.0")
	if err != nil || zs == nil {
		t.Fatalf("OpenZip: %v %v", zs, err)
	}
	defer zs.Close()
	first := follow(zs)
	<-gate.checking
	_, zs2, err := e.cache.OpenZip(context.Background(), "example.com/many", "v1.0.0")
	if err != nil || zs2 == nil {
		t.Fatalf("second OpenZip: %v %v, want to join the stream", zs2, err)
	}
	defer zs2.Close()
	second := follow(zs2)
	for name, r := range map[string]*reader{"fetcher's client": first, "joining client": second} {
		early := r.settled()
		if len(early) > cdStart {
			t.Errorf("%s: %d bytes before verification; the central directory starts at %d", name, len(early), cdStart)
		}
		if _, err := zip.NewReader(bytes.NewReader(early), int64(len(early))); err == nil {
			t.Errorf("%s: what was sent before verification opens as a zip", name)
		}
	}
	close(gate.release)
	for _, r := range []*reader{first, second} {
		<-r.done
		if !errors.Is(r.err, io.EOF) || !bytes.Equal(r.bytes(), want) {
			t.Errorf("after verification: %d bytes, err %v; want the %d-byte zip", len(r.bytes()), r.err, len(want))
		}
	}
}
