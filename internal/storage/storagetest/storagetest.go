// Package storagetest is the compliance suite every storage.Backend must pass.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// Run runs the suite against the backend that newBackend returns; each
// subtest gets a fresh, empty backend.
func Run(t *testing.T, newBackend func(t *testing.T) storage.Backend) {
	ctx := context.Background()
	t.Run("PutOpenStat", func(t *testing.T) {
		b := newBackend(t)
		name := "example.com/!a!b/@v/v1.0.0.zip"
		data := bytes.Repeat([]byte("gatehouse"), 1000)
		if err := b.Put(ctx, name, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		info, err := b.Stat(ctx, name)
		if err != nil || info.Size != int64(len(data)) {
			t.Fatalf("Stat = %+v, %v; want size %d", info, err, len(data))
		}
		if got := read(t, b, name); !bytes.Equal(got, data) {
			t.Fatalf("Open read %d bytes, want %d", len(got), len(data))
		}
	})
	t.Run("Seek", func(t *testing.T) {
		b := newBackend(t)
		mustPut(t, b, "m/@v/v1.0.0.mod", "module m\n")
		o, err := b.Open(ctx, "m/@v/v1.0.0.mod")
		if err != nil {
			t.Fatal(err)
		}
		defer o.Close()
		if o.Info().Size != 9 {
			t.Errorf("Info().Size = %d, want 9", o.Info().Size)
		}
		if _, err := o.Seek(7, io.SeekStart); err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(o)
		if string(rest) != "m\n" {
			t.Errorf("after Seek(7) read %q, want %q", rest, "m\n")
		}
	})
	t.Run("Missing", func(t *testing.T) {
		b := newBackend(t)
		if _, err := b.Open(ctx, "no/@v/v1.0.0.zip"); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("Open missing: %v, want ErrNotExist", err)
		}
		if _, err := b.Stat(ctx, "no/@v/v1.0.0.zip"); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("Stat missing: %v, want ErrNotExist", err)
		}
		if err := b.Delete(ctx, "no/@v/v1.0.0.zip"); err != nil {
			t.Errorf("Delete missing: %v", err)
		}
		names, err := b.List(ctx, "no/@v")
		if err != nil || len(names) != 0 {
			t.Errorf("List missing dir = %v, %v; want empty", names, err)
		}
	})
	t.Run("Overwrite", func(t *testing.T) {
		b := newBackend(t)
		mustPut(t, b, "m/@v/list", "v1.0.0\n")
		mustPut(t, b, "m/@v/list", "v1.0.0\nv1.1.0\n")
		if got := string(read(t, b, "m/@v/list")); got != "v1.0.0\nv1.1.0\n" {
			t.Errorf("after overwrite read %q", got)
		}
	})
	t.Run("List", func(t *testing.T) {
		b := newBackend(t)
		for _, n := range []string{"m/@v/v1.1.0.zip", "m/@v/v1.0.0.info", "m/@v/v1.0.0.zip", "m/sub/@v/v1.0.0.zip"} {
			mustPut(t, b, n, n)
		}
		names, err := b.List(ctx, "m/@v")
		if err != nil {
			t.Fatal(err)
		}
		if got, want := strings.Join(names, " "), "v1.0.0.info v1.0.0.zip v1.1.0.zip"; got != want {
			t.Errorf("List = %q, want %q", got, want)
		}
	})
	t.Run("Delete", func(t *testing.T) {
		b := newBackend(t)
		mustPut(t, b, "m/@v/v1.0.0.zip", "x")
		if err := b.Delete(ctx, "m/@v/v1.0.0.zip"); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Stat(ctx, "m/@v/v1.0.0.zip"); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("Stat after Delete: %v", err)
		}
	})
	t.Run("FailedPutLeavesNothing", func(t *testing.T) {
		b := newBackend(t)
		mustPut(t, b, "m/@v/v1.0.0.zip", "old")
		err := b.Put(ctx, "m/@v/v1.0.0.zip", io.MultiReader(strings.NewReader("partial"), errReader{}))
		if err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
		if got := string(read(t, b, "m/@v/v1.0.0.zip")); got != "old" {
			t.Errorf("after failed Put read %q, want the old object", got)
		}
		err = b.Put(ctx, "m/@v/v2.0.0.zip", io.MultiReader(strings.NewReader("partial"), errReader{}))
		if err == nil {
			t.Fatal("Put with a failing reader succeeded")
		}
		names, _ := b.List(ctx, "m/@v")
		if strings.Join(names, " ") != "v1.0.0.zip" {
			t.Errorf("after failed Put List = %v, want only v1.0.0.zip", names)
		}
	})
	t.Run("CanceledPut", func(t *testing.T) {
		b := newBackend(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := b.Put(cctx, "m/@v/v1.0.0.zip", strings.NewReader("data")); err == nil {
			t.Fatal("Put with a canceled context succeeded")
		}
		if _, err := b.Stat(ctx, "m/@v/v1.0.0.zip"); !errors.Is(err, storage.ErrNotExist) {
			t.Errorf("canceled Put left an object: %v", err)
		}
	})
	t.Run("BadNames", func(t *testing.T) {
		b := newBackend(t)
		for _, name := range []string{"", "/etc/passwd", "../x", "a/../../x", "a/./b", "a//b", "a/", "a\\b", "a\x00b", "a\nb", strings.Repeat("a", storage.MaxNameLen+1)} {
			if err := b.Put(ctx, name, strings.NewReader("x")); err == nil {
				t.Errorf("Put(%q) succeeded", name)
			}
			if _, err := b.Open(ctx, name); err == nil {
				t.Errorf("Open(%q) succeeded", name)
			}
			if _, err := b.Stat(ctx, name); err == nil {
				t.Errorf("Stat(%q) succeeded", name)
			}
		}
	})
	t.Run("ConcurrentPuts", func(t *testing.T) {
		b := newBackend(t)
		var wg sync.WaitGroup
		for i := range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				data := strings.Repeat(fmt.Sprint(i%10), 64<<10)
				if err := b.Put(ctx, "m/@v/v1.0.0.zip", strings.NewReader(data)); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got := read(t, b, "m/@v/v1.0.0.zip")
		if len(got) != 64<<10 || strings.Count(string(got), string(got[:1])) != len(got) {
			t.Errorf("concurrent Puts interleaved: %d bytes, mixed content", len(got))
		}
		names, _ := b.List(ctx, "m/@v")
		if len(names) != 1 {
			t.Errorf("after concurrent Puts List = %v, want one object", names)
		}
	})
	t.Run("Writable", func(t *testing.T) {
		b := newBackend(t)
		if err := b.Writable(ctx); err != nil {
			t.Errorf("Writable: %v", err)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("upstream broke") }

func mustPut(t *testing.T, b storage.Backend, name, data string) {
	t.Helper()
	if err := b.Put(context.Background(), name, strings.NewReader(data)); err != nil {
		t.Fatalf("Put(%q): %v", name, err)
	}
}

func read(t *testing.T, b storage.Backend, name string) []byte {
	t.Helper()
	o, err := b.Open(context.Background(), name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer o.Close()
	data, err := io.ReadAll(o)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
