package listen

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUnix(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "g.sock")
	ln, err := Unix(path, 0o640, "0")
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, %v", fi.Mode(), err)
	}
	// A live socket is not taken over.
	if _, err := Unix(path, 0o660, ""); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second listener on a live socket: %v", err)
	}
	// A stale one (its listener gone, the file left) is replaced.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln, err = Unix(path, 0o660, "")
	if err != nil {
		t.Fatalf("stale socket: %v", err)
	}
	ln.Close()
	// Any other file is left alone.
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("x"), 0o644)
	if _, err := Unix(file, 0o660, ""); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("regular file: %v", err)
	}
	if _, err := Unix(filepath.Join(dir, "x.sock"), 0o660, "no-such-group-here"); err == nil {
		t.Error("unknown group accepted")
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]os.FileMode{"0660": 0o660, "600": 0o600, "0o666": 0o666} {
		if m, err := ParseMode(s); err != nil || m != want {
			t.Errorf("ParseMode(%q) = %v, %v", s, m, err)
		}
	}
	for _, s := range []string{"", "rw", "0999", "01777", "-1"} {
		if _, err := ParseMode(s); err == nil {
			t.Errorf("ParseMode(%q) accepted", s)
		}
	}
}

func TestTLSConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.pem")
	os.WriteFile(empty, nil, 0o644)
	if _, err := TLSConfig(empty, empty, empty, nil); err == nil {
		t.Error("empty certificate accepted")
	}
}
