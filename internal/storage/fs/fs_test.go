package fs

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/storagetest"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func TestCompliance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) storage.Backend {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

// The layout is the module cache's: a name maps to the same relative path.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Put(context.Background(), "github.com/!burnt!sushi/toml/@v/v1.0.0.mod", strings.NewReader("module x\n")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join(dir, "github.com", "!burnt!sushi", "toml", "@v", "v1.0.0.mod"))
	if err != nil || string(data) != "module x\n" {
		t.Fatalf("file on disk: %q, %v", data, err)
	}
}

// A symlink planted inside the store cannot lead a read outside it.
func TestSymlinkEscape(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o600)
	os.MkdirAll(filepath.Join(dir, "m", "@v"), 0o755)
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "m", "@v", "v1.0.0.mod")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "evil")); err != nil {
		t.Fatal(err)
	}
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Open(context.Background(), "m/@v/v1.0.0.mod"); err == nil {
		t.Error("Open followed a symlink out of the store")
	}
	if _, err := s.Open(context.Background(), "evil/secret"); err == nil {
		t.Error("Open followed a directory symlink out of the store")
	}
	if err := s.Put(context.Background(), "evil/planted", strings.NewReader("x")); err == nil {
		t.Error("Put wrote through a directory symlink out of the store")
	}
	if _, err := os.Stat(filepath.Join(outside, "planted")); err == nil {
		t.Error("file planted outside the store")
	}
}

// A temp file left by a crash is never listed or served.
func TestTempFilesHidden(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "m", "@v"), 0o755)
	os.WriteFile(filepath.Join(dir, "m", "@v", tmpPrefix+"abc"), []byte("half"), 0o644)
	s, _ := New(dir)
	defer s.Close()
	names, _ := s.List(context.Background(), "m/@v")
	if len(names) != 0 {
		t.Errorf("List shows %v", names)
	}
	if _, err := s.Open(context.Background(), "m/@v/"+tmpPrefix+"abc"); err == nil {
		t.Error("Open served a temp file")
	}
}

// Temporary files a crashed process left are removed once old enough;
// fresh ones (a Put under way, perhaps by another process) and objects stay.
func TestRemoveStaleTemp(t *testing.T) {
	dir := t.TempDir()
	vdir := filepath.Join(dir, "example.com", "m", "@v")
	os.MkdirAll(vdir, 0o755)
	old := time.Now().Add(-2 * time.Hour)
	for name, mtime := range map[string]time.Time{
		tmpPrefix + "crashed": old, tmpPrefix + "writing": time.Now(), "v1.0.0.mod": old,
	} {
		p := filepath.Join(vdir, name)
		os.WriteFile(p, []byte("x"), 0o644)
		os.Chtimes(p, mtime, mtime)
	}
	os.WriteFile(filepath.Join(dir, tmpPrefix+"top"), nil, 0o644)
	os.Chtimes(filepath.Join(dir, tmpPrefix+"top"), old, old)
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	n, err := s.RemoveStaleTemp(time.Hour)
	if err != nil || n != 2 {
		t.Fatalf("RemoveStaleTemp = %d, %v; want 2", n, err)
	}
	for name, want := range map[string]bool{tmpPrefix + "crashed": false, tmpPrefix + "writing": true, "v1.0.0.mod": true} {
		if _, err := os.Stat(filepath.Join(vdir, name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}
}

// A full disk makes the store not writable, although an empty file can
// still be created there. Needs root to mount a small tmpfs.
func TestWritableOnFullDisk(t *testing.T) {
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", dir).CombinedOutput(); err != nil {
		if testutil.Strict() {
			t.Fatalf("cannot mount a tmpfs (make test runs as root): %v %s", err, out)
		}
		t.Skipf("cannot mount a tmpfs here (needs root): %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	s, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Writable(context.Background()); err != nil {
		t.Fatalf("empty store not writable: %v", err)
	}
	fill, _ := os.Create(filepath.Join(dir, "fill"))
	io.Copy(fill, io.LimitReader(zeros{}, 1<<20)) // stops at ENOSPC
	fill.Close()
	if err := s.Writable(context.Background()); err == nil {
		t.Fatal("full store reported writable")
	}
	os.Remove(filepath.Join(dir, "fill"))
	if err := s.Writable(context.Background()); err != nil {
		t.Fatalf("store not writable again after space was freed: %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("probe files left: %v", entries)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
