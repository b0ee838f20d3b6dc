package sumdb_test

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	xsumdb "golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-dev/gatehouse/internal/sumdb"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// reopen closes l and opens the log in dir again with the same key.
func reopen(t *testing.T, dir string, l *sumdb.Log) *sumdb.Log {
	t.Helper()
	l.Close()
	skey, err := os.ReadFile(filepath.Join(dir, "key"))
	if err != nil {
		t.Fatal(err)
	}
	l, _, err = sumdb.OpenLog(filepath.Join(dir, "log"), strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// treeHead parses the signed tree file of the log in dir.
func treeHead(t *testing.T, dir string) tlog.Tree {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "log", "tree"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	i := strings.Index(text, "\n\n")
	if i < 0 {
		t.Fatalf("tree file is not a note: %q", data)
	}
	tree, err := tlog.ParseTree([]byte(text[:i+1]))
	if err != nil {
		t.Fatal(err)
	}
	return tree
}

// A log that never got a record opens again, as often as it is restarted.
func TestEmptyLogReopens(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir)
	for range 3 {
		l = reopen(t, dir, l)
	}
	empty, _ := tlog.TreeHash(0, nil)
	if got := treeHead(t, dir); got.N != 0 || got.Hash != empty {
		t.Errorf("empty tree head = %d %v, want 0 %v", got.N, got.Hash, empty)
	}
	if _, _, err := l.Add("example.com/a", "v1.0.0", h1("a"), h1("b")); err != nil {
		t.Fatal(err)
	}
	l = reopen(t, dir, l)
	if l.Size() != 1 {
		t.Errorf("size after add and reopen = %d", l.Size())
	}
}

// Data directories written by earlier versions hold an empty tree signed
// with the zero hash: they open, and the head is re-signed properly.
func TestEmptyLogZeroHashMigrated(t *testing.T) {
	dir := t.TempDir()
	l, vkey := openLog(t, dir)
	l.Close()
	skey, _ := os.ReadFile(filepath.Join(dir, "key"))
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	legacy, err := note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: 0}))}, signer)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "log", "tree"), legacy, 0o600); err != nil {
		t.Fatal(err)
	}
	l = reopen(t, dir, l)
	empty, _ := tlog.TreeHash(0, nil)
	if got := treeHead(t, dir); got.N != 0 || got.Hash != empty {
		t.Errorf("migrated tree head = %d %v, want 0 %v", got.N, got.Hash, empty)
	}
	// The migrated log grows and is verified by the go command's client.
	if _, _, err := l.Add("example.com/a", "v1.0.0", h1("a"), h1("b")); err != nil {
		t.Fatal(err)
	}
	l = reopen(t, dir, l)
	checkLookup(t, l, vkey, "example.com/a", "v1.0.0")

	// A zero-hash tree signed by another key is still refused.
	_, _, _ = sumdb.LoadOrCreateKey(filepath.Join(dir, "other"), "sum.test.example")
	oskey, _ := os.ReadFile(filepath.Join(dir, "other"))
	osigner, _ := note.NewSigner(strings.TrimSpace(string(oskey)))
	forged, _ := note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: 0}))}, osigner)
	l.Close()
	os.WriteFile(filepath.Join(dir, "log", "tree"), forged, 0o600)
	if _, _, err := sumdb.OpenLog(filepath.Join(dir, "log"), strings.TrimSpace(string(skey))); err == nil {
		t.Error("an empty tree signed by another key was accepted over records")
	}
}

// checkLookup looks path@version up in l with x/mod's client, which checks
// the record's inclusion in the signed tree.
func checkLookup(t *testing.T, l *sumdb.Log, vkey, path, version string) {
	t.Helper()
	o := &sumdb.Own{Log: l, Fill: func(ctx context.Context, path, version string) error {
		return fmt.Errorf("%w: not in this test", upstream.ErrNotFound)
	}}
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	ops := &clientOps{url: srv.URL, vkey: vkey, cfg: map[string][]byte{}}
	lines, err := xsumdb.NewClient(ops).Lookup(path, version)
	if err != nil || len(lines) != 1 || !strings.HasPrefix(lines[0], path+" "+version+" h1:") {
		t.Errorf("Lookup %s@%s = %q, %v", path, version, lines, err)
	}
	if ops.secErr != "" {
		t.Errorf("security error: %s", ops.secErr)
	}
}

// A key file left empty by a crash during its creation is replaced, not a
// reason to refuse every later start.
func TestEmptyKeyFileReplaced(t *testing.T) {
	file := filepath.Join(t.TempDir(), "k")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, vkey, err := sumdb.LoadOrCreateKey(file, "gh.example")
	if err != nil || !strings.HasPrefix(vkey, "gh.example+") {
		t.Fatalf("empty key file: %q, %v", vkey, err)
	}
	if _, vkey2, err := sumdb.LoadOrCreateKey(file, "gh.example"); err != nil || vkey2 != vkey {
		t.Fatalf("reload: %q, %v; want %q", vkey2, err, vkey)
	}
	entries, _ := os.ReadDir(filepath.Dir(file))
	if len(entries) != 1 {
		t.Errorf("files left beside the key: %v", entries)
	}
}

// A tree head put back from earlier (the installation's first, zero-hash
// empty head, which the migration accepts, or any older one) is a
// rollback, not a crash: Add signs after every record, so a crash leaves at
// most one record beyond the signed head. Dropping more would forget the
// hashes pinned for private versions, and a moved tag would be taken as
// first seen. The log refuses to open instead, and keeps the records.
func TestOlderTreeHeadIsNotTakenForACrash(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir)
	l.Close()
	skey, _ := os.ReadFile(filepath.Join(dir, "key"))
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := note.Sign(&note.Note{Text: string(tlog.FormatTree(tlog.Tree{N: 0}))}, signer)
	l = reopen(t, dir, l)
	heads := map[string][]byte{"zero-hash empty": legacy}
	for i, v := range []string{"v1.0.0", "v1.0.1", "v1.0.2"} {
		if i == 1 {
			heads["one record"], _ = os.ReadFile(filepath.Join(dir, "log", "tree"))
		}
		if _, _, err := l.Add("example.com/a", v, h1("a"+v), h1("b"+v)); err != nil {
			t.Fatal(err)
		}
	}
	current, _ := os.ReadFile(filepath.Join(dir, "log", "tree"))
	records, _ := os.ReadFile(filepath.Join(dir, "log", "records"))
	l.Close()
	for name, head := range heads {
		if err := os.WriteFile(filepath.Join(dir, "log", "tree"), head, 0o600); err != nil {
			t.Fatal(err)
		}
		l2, dropped, err := sumdb.OpenLog(filepath.Join(dir, "log"), strings.TrimSpace(string(skey)))
		var te *sumdb.TamperedError
		if err == nil {
			l2.Close()
			t.Errorf("%s tree head put back: opened, %d records dropped", name, dropped)
		} else if !errors.As(err, &te) {
			t.Errorf("%s tree head put back: %v, want a TamperedError", name, err)
		}
		if got, _ := os.ReadFile(filepath.Join(dir, "log", "records")); string(got) != string(records) {
			t.Errorf("%s tree head put back: records changed", name)
		}
		os.WriteFile(filepath.Join(dir, "log", "tree"), current, 0o600)
	}
	// The real head still opens.
	l = reopen(t, dir, l)
	if l.Size() != 3 {
		t.Errorf("size = %d", l.Size())
	}
}
