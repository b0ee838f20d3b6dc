package verify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

func newChecker(t *testing.T, up *testproxy.Server, stateDir string, nosumdb ...string) *verify.SumDB {
	t.Helper()
	c, err := verify.NewSumDB(verify.SumDBOptions{
		Key: up.GOSUMDB(), URL: up.SumDBURL(), StateDir: stateDir, NoSumDB: nosumdb,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func trueHashes(t *testing.T, up *testproxy.Server, mod, vers string) (zipHash, modHash string) {
	t.Helper()
	a := up.Artifacts(mod, vers)
	zh, err := testproxy.HashZip(a.Zip)
	if err != nil {
		t.Fatal(err)
	}
	mh, err := verify.HashMod(a.Mod)
	if err != nil {
		t.Fatal(err)
	}
	return zh, mh
}

func TestSumDBCheck(t *testing.T) {
	ctx := context.Background()
	up := testproxy.New(t)
	c := newChecker(t, up, t.TempDir())
	zh, mh := trueHashes(t, up, "example.com/hello", "v1.0.0")

	if err := c.Check(ctx, "example.com/hello", "v1.0.0", zh); err != nil {
		t.Fatalf("true zip hash: %v", err)
	}
	if err := c.Check(ctx, "example.com/hello", "v1.0.0/go.mod", mh); err != nil {
		t.Fatalf("true go.mod hash: %v", err)
	}

	bad := "h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	err := c.Check(ctx, "example.com/hello", "v1.0.0", bad)
	var me *verify.MismatchError
	if !errors.As(err, &me) || me.Want != zh || me.Got != bad {
		t.Fatalf("wrong hash: err = %v, want a mismatch naming both hashes", err)
	}
	if !strings.HasPrefix(err.Error(), "SECURITY ERROR: checksum mismatch for example.com/hello@v1.0.0\n") {
		t.Errorf("message does not start with the security line: %q", err)
	}

	var ue *verify.UnverifiedError
	if err := c.Check(ctx, "example.com/nosuch", "v1.0.0", zh); !errors.As(err, &ue) {
		t.Fatalf("unknown module: err = %v, want UnverifiedError", err)
	}
	up.SetStatus(http.StatusServiceUnavailable)
	if err := c.Check(ctx, "example.com/greet", "v1.0.0", zh); !errors.As(err, &ue) {
		t.Fatalf("database down: err = %v, want UnverifiedError", err)
	}
}

func TestSumDBNoSumDB(t *testing.T) {
	up := testproxy.New(t)
	c := newChecker(t, up, t.TempDir(), "example.com/private")
	if err := c.Check(context.Background(), "example.com/private/lib", "v1.0.0", "h1:whatever"); err != nil {
		t.Fatalf("exempt module checked: %v", err)
	}
	if up.TotalCount() != 0 {
		t.Errorf("exempt module's path reached the checksum database (%d requests)", up.TotalCount())
	}
}

// A database that forks from the tree verified earlier (same key, other
// history) is refused, even by a fresh checker, because the tree head is
// persisted in the state directory.
func TestSumDBForkDetectedAcrossRestart(t *testing.T) {
	ctx := context.Background()
	state := t.TempDir()
	a := testproxy.New(t)
	c1 := newChecker(t, a, state)
	hz, _ := trueHashes(t, a, "example.com/hello", "v1.0.0")
	gz, _ := trueHashes(t, a, "example.com/greet", "v1.0.0")
	if err := c1.Check(ctx, "example.com/hello", "v1.0.0", hz); err != nil {
		t.Fatal(err)
	}
	if err := c1.Check(ctx, "example.com/greet", "v1.0.0", gz); err != nil {
		t.Fatal(err)
	}

	// Same signer, other history: a forked log. (A lookup already verified
	// is answered from the state directory's cache, so ask for a new one.)
	b := testproxy.NewWithKey(t, a.SignerKey(), a.GOSUMDB())
	c2 := newChecker(t, b, state)
	vz, _ := trueHashes(t, b, "example.com/hello/v2", "v2.0.0")
	err := c2.Check(ctx, "example.com/hello/v2", "v2.0.0", vz)
	var se *verify.SecurityError
	if !errors.As(err, &se) {
		t.Fatalf("forked log accepted after restart: err = %v", err)
	}

	// A fresh state directory has nothing to compare with and accepts it,
	// which shows the persisted state is what caught the fork.
	c3 := newChecker(t, b, t.TempDir())
	if err := c3.Check(ctx, "example.com/hello/v2", "v2.0.0", vz); err != nil {
		t.Fatalf("fresh state: %v", err)
	}
}

func TestHashMod(t *testing.T) {
	up := testproxy.New(t)
	a := up.Artifacts("example.com/greet", "v1.0.0")
	h1, _ := verify.HashMod(a.Mod)
	h2, _ := testproxy.HashMod(a.Mod)
	h3, _ := verify.HashMod(append(a.Mod, ' '))
	if h1 != h2 || h1 == h3 || !strings.HasPrefix(h1, "h1:") {
		t.Fatalf("HashMod: %q %q %q", h1, h2, h3)
	}
}

// The built-in key must be the one the go command itself trusts.
func TestKnownKeyMatchesGoCommand(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "src", "cmd", "go", "internal", "modfetch", "key.go"))
	if err != nil {
		if testutil.Strict() {
			t.Fatalf("Go source not available: %v", err)
		}
		t.Skipf("Go source not available: %v", err)
	}
	if !strings.Contains(string(src), `"`+verify.KnownKeys["sum.golang.org"]+`"`) {
		t.Fatalf("KnownKeys[sum.golang.org] = %q is not the go command's key", verify.KnownKeys["sum.golang.org"])
	}
}

// A checksum database that answers with garbage (an HTML page for every
// path, a note signed by nobody) verifies nothing: the hash is refused as
// unverified, with no panic.
func TestSumDBGarbageRefused(t *testing.T) {
	up := testproxy.New(t)
	zh, _ := trueHashes(t, up, "example.com/hello", "v1.0.0")
	for name, body := range map[string]string{
		"html":          "<!DOCTYPE html><html><body>Sign in</body></html>\n",
		"unsigned note": "go.sum database tree\n1\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n— someone ZmFrZQ==\n",
		"empty":         "",
	} {
		t.Run(name, func(t *testing.T) {
			garbage := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, body) }))
			defer garbage.Close()
			c, err := verify.NewSumDB(verify.SumDBOptions{Key: up.GOSUMDB(), URL: garbage.URL, StateDir: t.TempDir(),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
			if err != nil {
				t.Fatal(err)
			}
			err = c.Check(context.Background(), "example.com/hello", "v1.0.0", zh)
			var ue *verify.UnverifiedError
			if !errors.As(err, &ue) {
				t.Fatalf("err = %v, want UnverifiedError", err)
			}
		})
	}
}

// firstFails answers the first request for each path with 502 (or a reset
// connection, alternately) and passes the rest to up.
func firstFails(t *testing.T, up *testproxy.Server) (url string, failed func() int) {
	t.Helper()
	target, _ := neturl.Parse(up.URL)
	rp := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	seen := map[string]bool{}
	n := 0
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := !seen[r.URL.Path]
		seen[r.URL.Path] = true
		if first {
			n++
		}
		reset := n%2 == 0
		mu.Unlock()
		switch {
		case first && reset:
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		case first:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	t.Cleanup(front.Close)
	return front.URL + strings.TrimPrefix(up.SumDBURL(), up.URL), func() int { mu.Lock(); defer mu.Unlock(); return n }
}

// Lookups and tiles that fail once (502, reset connection) are asked
// again: the check succeeds.
func TestSumDBRetriesTransientFailures(t *testing.T) {
	up := testproxy.New(t)
	url, failed := firstFails(t, up)
	c, err := verify.NewSumDB(verify.SumDBOptions{
		Key: up.GOSUMDB(), URL: url, StateDir: t.TempDir(),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	zh, _ := trueHashes(t, up, "example.com/hello", "v1.0.0")
	if err := c.Check(context.Background(), "example.com/hello", "v1.0.0", zh); err != nil {
		t.Fatalf("check through an upstream that fails each path once: %v", err)
	}
	if n := failed(); n < 2 {
		t.Errorf("only %d requests failed; the test did not exercise lookups and tiles", n)
	}
}

// A lookup that failed (the version was not in the database yet) is not
// remembered: once it is published, it verifies. (Warm starts lookups
// before a download is known to exist, so this matters.)
func TestSumDBFailedLookupNotRemembered(t *testing.T) {
	up := testproxy.New(t)
	c := newChecker(t, up, t.TempDir())
	ctx := context.Background()
	if err := c.Check(ctx, "example.com/late", "v1.0.0", "h1:whatever"); err == nil {
		t.Fatal("a version not published verified")
	}
	if err := up.Add("example.com/late", "v1.0.0", map[string]string{"go.mod": "module example.com/late\n"}, time.Now()); err != nil {
		t.Fatal(err)
	}
	zh, _ := trueHashes(t, up, "example.com/late", "v1.0.0")
	if err := c.Check(ctx, "example.com/late", "v1.0.0", zh); err != nil {
		t.Fatalf("published since: %v", err)
	}
}
