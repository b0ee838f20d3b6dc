package verify_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/sumdb"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func newLedger(t *testing.T) *sumdb.Log {
	t.Helper()
	dir := t.TempDir()
	skey, _, err := sumdb.LoadOrCreateKey(filepath.Join(dir, "key"), "gh.test")
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := sumdb.OpenLog(filepath.Join(dir, "log"), skey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// The first hashes of a private version win; different content later is
// a mismatch that names both hashes.
func TestFirstSeen(t *testing.T) {
	ledger := newLedger(t)
	zipH, modH := "h1:"+strings.Repeat("A", 43)+"=", "h1:"+strings.Repeat("B", 43)+"="
	moved := "h1:" + strings.Repeat("C", 43) + "="
	calls := 0
	// The source's view of the version; the real direct source is tested
	// in internal/upstream/direct and internal/integration.
	c := &verify.FirstSeen{Ledger: ledger, Logger: quiet, Hashes: func(ctx context.Context, path, version string) (string, string, error) {
		calls++
		return zipH, modH, nil
	}}
	ctx := context.Background()
	if err := c.Check(ctx, "git.corp.example/lib", "v1.0.0/go.mod", modH); err != nil {
		t.Fatal(err)
	}
	if z, m, ok := ledger.Lookup("git.corp.example/lib", "v1.0.0"); !ok || z != zipH || m != modH {
		t.Fatalf("not recorded: %s %s %v", z, m, ok)
	}
	if err := c.Check(ctx, "git.corp.example/lib", "v1.0.0", zipH); err != nil {
		t.Fatal(err)
	}
	err := c.Check(ctx, "git.corp.example/lib", "v1.0.0", moved)
	var me *verify.MismatchError
	if !errors.As(err, &me) || me.Got != moved || me.Want != zipH || !strings.Contains(err.Error(), "SECURITY ERROR") ||
		!strings.Contains(err.Error(), moved) || !strings.Contains(err.Error(), zipH) {
		t.Fatalf("moved tag: %v", err)
	}
	if calls != 1 {
		t.Errorf("source asked %d times, want once (then the ledger answers)", calls)
	}
	if z, _, _ := ledger.Lookup("git.corp.example/lib", "v1.0.0"); z != zipH {
		t.Error("the ledger changed")
	}
}

// A public version is verified against the upstream database once, then
// recorded with the database's hashes; a tampered one is not recorded.
func TestRecorded(t *testing.T) {
	up := testproxy.New(t)
	ledger := newLedger(t)
	r := &verify.Recorded{Upstream: newChecker(t, up, t.TempDir(), "example.com/greet"), Ledger: ledger, Logger: quiet}
	ctx := context.Background()
	zh, mh := trueHashes(t, up, "example.com/hello", "v1.0.0")
	if err := r.Check(ctx, "example.com/hello", "v1.0.0/go.mod", mh); err != nil {
		t.Fatal(err)
	}
	if z, m, ok := ledger.Lookup("example.com/hello", "v1.0.0"); !ok || z != zh || m != mh {
		t.Fatalf("recorded %s %s %v, want the database's %s %s", z, m, ok, zh, mh)
	}
	var me *verify.MismatchError
	if err := r.Check(ctx, "example.com/hello", "v1.0.0", mh); !errors.As(err, &me) {
		t.Errorf("wrong zip hash: %v, want mismatch", err)
	}
	_, mh2 := trueHashes(t, up, "example.com/hello/v2", "v2.0.0")
	if err := r.Check(ctx, "example.com/hello/v2", "v2.0.0/go.mod", mh); !errors.As(err, &me) {
		t.Errorf("tampered go.mod: %v, want mismatch", err)
	}
	if _, _, ok := ledger.Lookup("example.com/hello/v2", "v2.0.0"); ok {
		t.Error("a tampered version was recorded")
	}
	if err := r.Check(ctx, "example.com/hello/v2", "v2.0.0/go.mod", mh2); err != nil {
		t.Fatal(err)
	}
	// Exempt from verification (nosumdb): served, but never vouched for.
	if err := r.Check(ctx, "example.com/greet", "v1.0.0/go.mod", "h1:whatever"); err != nil {
		t.Fatal(err)
	}
	if _, _, ok := ledger.Lookup("example.com/greet", "v1.0.0"); ok {
		t.Error("an unverified (nosumdb) version was recorded")
	}
	if err := r.Record(ctx, "example.com/greet", "v1.0.0"); !errors.Is(err, verify.ErrNoRecord) {
		t.Errorf("Record of a nosumdb module: %v, want ErrNoRecord", err)
	}
	if err := r.Record(ctx, "example.com/nosuch", "v1.0.0"); !errors.Is(err, verify.ErrNoRecord) {
		t.Errorf("Record of unknown module: %v, want ErrNoRecord", err)
	}
}
