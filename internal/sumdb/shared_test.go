package sumdb_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	xsumdb "golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/sumdb"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

// One cache behind verification and the client-facing proxy: what the
// checker verified (the lookup of a version it checked, the tiles that
// proved it) answers clients without asking the database again, a client's
// lookup of a version not verified yet is verified and kept, and the
// answers are the database's own, which x/mod's client (the go command's)
// verifies through the proxy.
func TestProxySharesVerifiedCache(t *testing.T) {
	up := testproxy.New(t)
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	checker, err := verify.NewSumDB(verify.SumDBOptions{Key: up.GOSUMDB(), URL: up.SumDBURL(), StateDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	front := httptest.NewServer(&sumdb.Proxy{Name: testproxy.SumDBName, URL: up.SumDBURL(), Store: store, Logger: quiet, Verified: checker})
	defer front.Close()
	base := "/sumdb/" + testproxy.SumDBName
	get := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get(front.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}

	zh, err := testproxy.HashZip(up.Artifacts("example.com/hello", "v1.0.0").Zip)
	if err != nil {
		t.Fatal(err)
	}
	if err := checker.Check(context.Background(), "example.com/hello", "v1.0.0", zh); err != nil {
		t.Fatal(err)
	}
	lookup := base + "/lookup/example.com/hello@v1.0.0"
	if n := up.Count(lookup); n != 1 {
		t.Fatalf("checker's lookups: %d", n)
	}
	status, body := get("/lookup/example.com/hello@v1.0.0")
	if status != 200 || !strings.Contains(body, "example.com/hello v1.0.0 "+zh) {
		t.Fatalf("client lookup: %d %q", status, body)
	}
	if n := up.Count(lookup); n != 1 {
		t.Errorf("a verified lookup was fetched again for a client (%d upstream lookups)", n)
	}
	// The tile that proved it is served from the same cache.
	_, _, treeMsg, err := tlog.ParseRecord([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := tlog.ParseTree([]byte(strings.SplitN(string(treeMsg), "\n\n", 2)[0] + "\n"))
	if err != nil {
		t.Fatalf("tree in lookup: %v", err)
	}
	tile := fmt.Sprintf("/tile/8/0/000.p/%d", tree.N)
	if tree.N >= 256 {
		t.Fatalf("tree of %d records; the test expects one partial tile", tree.N)
	}
	before := up.Count(base + tile)
	if status, _ := get(tile); status != 200 {
		t.Fatalf("tile %s: %d", tile, status)
	}
	if after := up.Count(base + tile); after != before || before == 0 {
		t.Errorf("tile %s: upstream asked %d times before the client's request and %d after; want it served from the checker's cache", tile, before, after)
	}

	// A version the checker has not seen: verified and kept on the
	// client's first lookup, and served from the cache on the next.
	for range 2 {
		if status, body := get("/lookup/example.com/greet@v1.0.0"); status != 200 || !strings.Contains(body, "example.com/greet v1.0.0 h1:") {
			t.Fatalf("lookup of greet: %d %q", status, body)
		}
	}
	if n := up.Count(base + "/lookup/example.com/greet@v1.0.0"); n != 1 {
		t.Errorf("greet looked up upstream %d times, want once", n)
	}
	// Unknown to the database: its own answer is forwarded.
	if status, _ := get("/lookup/example.com/nosuch@v1.0.0"); status != http.StatusNotFound {
		t.Errorf("lookup of unknown module: %d, want 404", status)
	}

	// The go command's client verifies what the proxy serves.
	ops := &clientOps{url: front.URL, vkey: up.GOSUMDB(), cfg: map[string][]byte{}}
	c := xsumdb.NewClient(ops)
	for _, mv := range [][2]string{{"example.com/hello", "v1.0.0"}, {"example.com/greet", "v1.0.0/go.mod"}, {"example.com/hello/v2", "v2.0.0"}} {
		if _, err := c.Lookup(mv[0], mv[1]); err != nil {
			t.Errorf("client lookup of %s@%s through the proxy: %v", mv[0], mv[1], err)
		}
	}
	if ops.secErr != "" {
		t.Errorf("security error: %s", ops.secErr)
	}
}

// slowPuts is a store whose writes wait for release.
type slowPuts struct {
	*fs.Store
	release chan struct{}
}

func (s *slowPuts) Put(ctx context.Context, name string, r io.Reader) error {
	<-s.release
	return s.Store.Put(ctx, name, r)
}

// A tile fetched for a client is answered before it is stored (reply
// first, persist after), and then kept.
func TestProxyTileKeptAfterReply(t *testing.T) {
	up := testproxy.New(t)
	fstore, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer fstore.Close()
	store := &slowPuts{Store: fstore, release: make(chan struct{})}
	// The tree grows with each lookup; one makes a tile exist.
	if resp, err := http.Get(up.SumDBURL() + "/lookup/example.com/hello@v1.0.0"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("lookup: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	front := httptest.NewServer(&sumdb.Proxy{Name: testproxy.SumDBName, URL: up.SumDBURL(), Store: store})
	defer front.Close()
	got := make(chan error, 1)
	go func() {
		resp, err := http.Get(front.URL + "/tile/8/0/000.p/1")
		if err != nil {
			got <- err
			return
		}
		data, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err == nil && (resp.StatusCode != 200 || resp.ContentLength != int64(len(data)) || len(data) == 0) {
			err = fmt.Errorf("tile: %d, length %d of %d", resp.StatusCode, resp.ContentLength, len(data))
		}
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		close(store.release)
		t.Fatal("the tile was not answered before it was stored")
	}
	close(store.release)
	name := "sumdb/" + testproxy.SumDBName + "/tile/8/0/000.p/1"
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := store.Stat(context.Background(), name); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("tile not kept")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
