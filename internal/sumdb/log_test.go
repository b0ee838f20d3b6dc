package sumdb_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	xsumdb "golang.org/x/mod/sumdb"

	"github.com/gatehouse-dev/gatehouse/internal/sumdb"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

func h1(s string) string { return "h1:" + strings.Repeat(s, 43)[:43] + "=" }

func openLog(t *testing.T, dir string) (*sumdb.Log, string) {
	t.Helper()
	skey, vkey, err := sumdb.LoadOrCreateKey(filepath.Join(dir, "key"), "sum.test.example")
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := sumdb.OpenLog(filepath.Join(dir, "log"), skey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, vkey
}

// clientOps connects x/mod's checksum database client (the code the go
// command uses) to a handler, with an in-memory config and cache.
type clientOps struct {
	url, vkey string
	mu        sync.Mutex
	cfg       map[string][]byte
	secErr    string
}

func (c *clientOps) ReadRemote(path string) ([]byte, error) {
	resp, err := http.Get(c.url + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("%s: %s", resp.Status, data)
	}
	return data, nil
}
func (c *clientOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(c.vkey), nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg[file], nil
}
func (c *clientOps) WriteConfig(file string, old, new []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if string(c.cfg[file]) != string(old) {
		return xsumdb.ErrWriteConflict
	}
	c.cfg[file] = new
	return nil
}
func (c *clientOps) ReadCache(string) ([]byte, error) { return nil, os.ErrNotExist }
func (c *clientOps) WriteCache(string, []byte)        {}
func (c *clientOps) Log(string)                       {}
func (c *clientOps) SecurityError(msg string)         { c.secErr = msg }

func serveOwn(t *testing.T, o *sumdb.Own) *clientOps {
	srv := httptest.NewServer(o)
	t.Cleanup(srv.Close)
	vkey, _ := sumdb.VerifierKey(mustKey(t, o))
	return &clientOps{url: srv.URL, vkey: vkey, cfg: map[string][]byte{}}
}

var keys sync.Map // *Own → skey, for serveOwn

func mustKey(t *testing.T, o *sumdb.Own) string {
	v, ok := keys.Load(o)
	if !ok {
		t.Fatal("no key")
	}
	return v.(string)
}

// The x/mod client verifies records added to the log, through tiles and
// the signed tree, across a restart; unknown versions are filled on lookup.
func TestLogVerifiedByClient(t *testing.T) {
	dir := t.TempDir()
	skey, _, err := sumdb.LoadOrCreateKey(filepath.Join(dir, "key"), "sum.test.example")
	if err != nil {
		t.Fatal(err)
	}
	st, _ := os.Stat(filepath.Join(dir, "key"))
	if st.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", st.Mode().Perm())
	}
	l, _, err := sumdb.OpenLog(filepath.Join(dir, "log"), skey)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 260 { // more than one full tile of height 8
		if _, _, err := l.Add(fmt.Sprintf("example.com/m%d", i), "v1.0.0", h1("a"), h1("b")); err != nil {
			t.Fatal(err)
		}
	}
	// The first hashes win.
	z, m, err := l.Add("example.com/m7", "v1.0.0", h1("c"), h1("d"))
	if err != nil || z != h1("a") || m != h1("b") {
		t.Fatalf("re-Add = %s %s %v, want the first hashes", z, m, err)
	}
	l.Close()

	l, dropped, err := sumdb.OpenLog(filepath.Join(dir, "log"), skey)
	if err != nil || dropped != 0 || l.Size() != 260 {
		t.Fatalf("reopen: size %d, dropped %d, %v", l.Size(), dropped, err)
	}
	defer l.Close()
	filled := 0
	o := &sumdb.Own{Log: l, Fill: func(ctx context.Context, path, version string) error {
		if path == "example.com/nosuch" {
			return fmt.Errorf("%w: no such module", upstream.ErrNotFound)
		}
		filled++
		_, _, err := l.Add(path, version, h1("e"), h1("f"))
		return err
	}}
	keys.Store(o, skey)
	ops := serveOwn(t, o)
	c := xsumdb.NewClient(ops)
	for _, mv := range []string{"example.com/m0 v1.0.0", "example.com/m259 v1.0.0/go.mod", "example.com/new v1.2.3"} {
		p, v, _ := strings.Cut(mv, " ")
		lines, err := c.Lookup(p, v)
		if err != nil {
			t.Fatalf("Lookup %s: %v", mv, err)
		}
		if len(lines) != 1 || !strings.HasPrefix(lines[0], mv+" h1:") {
			t.Errorf("Lookup %s = %q", mv, lines)
		}
	}
	if filled != 1 {
		t.Errorf("Fill called %d times, want 1", filled)
	}
	if _, err := c.Lookup("example.com/nosuch", "v1.0.0"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("lookup of unknown module: %v, want 404", err)
	}
	resp, _ := http.Get(ops.url + "/supported")
	if resp.StatusCode != 200 {
		t.Errorf("/supported: %d", resp.StatusCode)
	}
	resp, _ = http.Get(ops.url + "/lookup/-x@v1.0.0")
	if resp.StatusCode != 400 {
		t.Errorf("lookup of -x: %d, want 400", resp.StatusCode)
	}
	if ops.secErr != "" {
		t.Errorf("security error: %s", ops.secErr)
	}
}

// Every kind of change to the files on disk is detected at open.
func TestLogTamperDetected(t *testing.T) {
	build := func(t *testing.T) (string, string) {
		dir := t.TempDir()
		l, _ := openLog(t, dir)
		for i := range 20 {
			if _, _, err := l.Add(fmt.Sprintf("example.com/m%d", i), "v1.0.0", h1("a"), h1("b")); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		skey, _ := os.ReadFile(filepath.Join(dir, "key"))
		return filepath.Join(dir, "log"), strings.TrimSpace(string(skey))
	}
	edit := func(file string, f func([]byte) []byte) {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, f(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name, want string
		change     func(dir string)
	}{
		{"record edited", "record 5 was altered", func(dir string) {
			edit(filepath.Join(dir, "records"), func(b []byte) []byte {
				return []byte(strings.Replace(string(b), "example.com/m5 v1.0.0 "+h1("a"), "example.com/m5 v1.0.0 "+h1("z"), 1))
			})
		}},
		{"record removed", "record 19 is missing", func(dir string) {
			edit(filepath.Join(dir, "records"), func(b []byte) []byte {
				i := strings.Index(string(b), "example.com/m19 ")
				return b[:i]
			})
		}},
		{"records reordered", "altered", func(dir string) {
			edit(filepath.Join(dir, "records"), func(b []byte) []byte {
				lines := strings.SplitAfter(string(b), "\n")
				lines[0], lines[1], lines[2], lines[3] = lines[2], lines[3], lines[0], lines[1]
				return []byte(strings.Join(lines, ""))
			})
		}},
		{"hash edited", "stored hash", func(dir string) {
			edit(filepath.Join(dir, "hashes"), func(b []byte) []byte { b[len(b)-1] ^= 1; return b })
		}},
		{"tree deleted", "tree head is missing", func(dir string) { os.Remove(filepath.Join(dir, "tree")) }},
		{"tree forged", "signature", func(dir string) {
			edit(filepath.Join(dir, "tree"), func(b []byte) []byte { return []byte(strings.Replace(string(b), "\n20\n", "\n19\n", 1)) })
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, skey := build(t)
			tt.change(dir)
			_, _, err := sumdb.OpenLog(dir, skey)
			var te *sumdb.TamperedError
			if !errors.As(err, &te) || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "SECURITY ERROR") {
				t.Fatalf("OpenLog after %s: %v, want a TamperedError with %q", tt.name, err, tt.want)
			}
		})
	}
}

// Records appended but never signed (a crash before the tree head was
// written) are dropped at open, and the log stays usable.
func TestLogUnsignedTailDropped(t *testing.T) {
	dir := t.TempDir()
	l, _ := openLog(t, dir)
	l.Add("example.com/a", "v1.0.0", h1("a"), h1("b"))
	l.Close()
	f, _ := os.OpenFile(filepath.Join(dir, "log", "records"), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString("example.com/b v1.0.0 " + h1("a") + "\nexample.com/b v1.0.0/go.mod " + h1("b") + "\nexample.com/c v1")
	f.Close()
	skey, _ := os.ReadFile(filepath.Join(dir, "key"))
	l, dropped, err := sumdb.OpenLog(filepath.Join(dir, "log"), strings.TrimSpace(string(skey)))
	if err != nil || dropped != 1 {
		t.Fatalf("open: dropped %d, %v", dropped, err)
	}
	defer l.Close()
	if _, _, ok := l.Lookup("example.com/b", "v1.0.0"); ok {
		t.Error("unsigned record served")
	}
	if _, _, err := l.Add("example.com/b", "v1.0.0", h1("c"), h1("d")); err != nil {
		t.Fatal(err)
	}
	if z, _, ok := l.Lookup("example.com/b", "v1.0.0"); !ok || z != h1("c") {
		t.Errorf("re-added record: %s %v", z, ok)
	}
}

func TestKeyFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "k")
	_, vkey, err := sumdb.LoadOrCreateKey(file, "gh.example")
	if err != nil || !strings.HasPrefix(vkey, "gh.example+") {
		t.Fatalf("create: %q %v", vkey, err)
	}
	_, vkey2, err := sumdb.LoadOrCreateKey(file, "gh.example")
	if err != nil || vkey2 != vkey {
		t.Fatalf("reload gave another key: %q %v", vkey2, err)
	}
	if _, _, err := sumdb.LoadOrCreateKey(file, "other.example"); err == nil {
		t.Error("key of another name accepted")
	}
	os.Chmod(file, 0o644)
	if _, _, err := sumdb.LoadOrCreateKey(file, "gh.example"); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("world-readable key: %v", err)
	}
	if _, _, err := sumdb.LoadOrCreateKey(file, "bad name"); err == nil {
		t.Error("invalid name accepted")
	}
}
