// Package fs stores artifacts in a directory laid out exactly like the go
// command's module cache download directory, so the directory is itself a
// valid GOPROXY=file://… and can be read with ls.
package fs

import (
	"context"
	"errors"
	"fmt"
	"io"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// tmpPrefix marks files being written; List never shows them, and Open of a
// name with this prefix is refused, so a half-written file is never served.
const tmpPrefix = ".tmp-"

// Store is a storage.Backend on a local directory.
type Store struct {
	root  *os.Root
	dirfd int // the same directory, for openat2 on the read path (-1: none)
	dir   string
}

// New opens (creating if needed) the store at dir.
func New(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("storage: %w", err)
	}
	dirfd, err := openDir(dir)
	if err != nil {
		root.Close()
		return nil, fmt.Errorf("storage: %w", err)
	}
	return &Store{root: root, dirfd: dirfd, dir: dir}, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Close releases the store's directory handle.
func (s *Store) Close() error {
	closeDir(s.dirfd)
	return s.root.Close()
}

// check validates a name; os.Root additionally refuses any path (or symlink)
// that would resolve outside the directory.
func check(name string) error {
	if err := storage.CheckName(name); err != nil {
		return err
	}
	if strings.HasPrefix(filepath.Base(name), tmpPrefix) {
		return fmt.Errorf("storage: invalid name %q", name)
	}
	return nil
}

type object struct {
	*os.File
	info storage.Info
}

func (o *object) Info() storage.Info { return o.info }

func (s *Store) Open(ctx context.Context, name string) (storage.Object, error) {
	if err := check(name); err != nil {
		return nil, err
	}
	f, err := openBeneath(s.dirfd, s.root, filepath.FromSlash(name))
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &iofs.PathError{Op: "open", Path: name, Err: storage.ErrNotExist}
	}
	return &object{File: f, info: storage.Info{Size: fi.Size(), ModTime: fi.ModTime()}}, nil
}

func (s *Store) Stat(ctx context.Context, name string) (storage.Info, error) {
	if err := check(name); err != nil {
		return storage.Info{}, err
	}
	fi, err := s.root.Stat(filepath.FromSlash(name))
	if err != nil {
		return storage.Info{}, err
	}
	if !fi.Mode().IsRegular() {
		return storage.Info{}, &iofs.PathError{Op: "stat", Path: name, Err: storage.ErrNotExist}
	}
	return storage.Info{Size: fi.Size(), ModTime: fi.ModTime()}, nil
}

// Put writes to a temporary file in the target directory, syncs it, and
// renames it into place, so readers see all of the object or none of it.
func (s *Store) Put(ctx context.Context, name string, r io.Reader) (err error) {
	if err := check(name); err != nil {
		return err
	}
	dir := filepath.Dir(filepath.FromSlash(name))
	if err := s.root.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := createTemp(s.root, dir)
	if err != nil {
		return err
	}
	tmpName := filepath.Join(dir, filepath.Base(tmp.Name()))
	defer func() {
		if err != nil {
			tmp.Close()
			s.root.Remove(tmpName)
		}
	}()
	if _, err = io.Copy(tmp, contextReader{ctx, r}); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return s.root.Rename(tmpName, filepath.FromSlash(name))
}

// createTemp makes a new temporary file in dir below root.
func createTemp(root *os.Root, dir string) (*os.File, error) {
	for range 10000 {
		name := filepath.Join(dir, tmpPrefix+randomSuffix())
		f, err := root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, iofs.ErrExist) {
			continue
		}
		return f, err
	}
	return nil, errors.New("storage: cannot create a temporary file")
}

func (s *Store) List(ctx context.Context, dir string) ([]string, error) {
	if err := check(dir); err != nil {
		return nil, err
	}
	f, err := s.root.Open(filepath.FromSlash(dir))
	if errors.Is(err, iofs.ErrNotExist) {
		return []string{}, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries, err := f.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	names := []string{}
	for _, e := range entries {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), tmpPrefix) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names, nil
}

func (s *Store) Delete(ctx context.Context, name string) error {
	if err := check(name); err != nil {
		return err
	}
	err := s.root.Remove(filepath.FromSlash(name))
	if errors.Is(err, iofs.ErrNotExist) {
		return nil
	}
	return err
}

// Writable creates and removes a probe file.
func (s *Store) Writable(ctx context.Context) error {
	f, err := createTemp(s.root, ".")
	if err != nil {
		return err
	}
	name := filepath.Base(f.Name())
	// An empty file can still be created on a full disk; writing a little
	// data is what shows whether a fetch could be stored.
	_, werr := f.Write(writableProbe[:])
	cerr := f.Close()
	rerr := s.root.Remove(name)
	return errors.Join(werr, cerr, rerr)
}

var writableProbe [64 << 10]byte

type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// RemoveStaleTemp removes temporary files older than age, left by a
// process that died mid-Put (they are never served, but take space). A
// Put finishes in far less than age, so no write under way is touched,
// even by another process sharing the directory. It returns how many it
// removed; it walks the whole store, so callers run it in the background.
func (s *Store) RemoveStaleTemp(age time.Duration) (int, error) {
	cutoff := time.Now().Add(-age)
	removed := 0
	err := iofs.WalkDir(s.root.FS(), ".", func(p string, d iofs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, iofs.ErrNotExist) {
				return nil // removed meanwhile
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() || !strings.HasPrefix(d.Name(), tmpPrefix) {
			return nil
		}
		if fi, err := d.Info(); err == nil && fi.ModTime().Before(cutoff) {
			if s.root.Remove(filepath.FromSlash(p)) == nil {
				removed++
			}
		}
		return nil
	})
	return removed, err
}
