// Package storage defines where gatehouse keeps module artifacts.
//
// Names are slash-separated paths in the module cache download layout:
// "<escaped module path>/@v/<escaped version>.{info,mod,zip}" and
// "<escaped module path>/@v/list". A backend stores opaque bytes under them;
// it knows nothing of modules.
package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// ErrNotExist is returned (possibly wrapped) for a name with no object.
// It is fs.ErrNotExist, so errors.Is works with either.
var ErrNotExist = fs.ErrNotExist

// Backend is a store of immutable-once-written objects.
//
// Every method is safe for concurrent use. Put is atomic: a reader sees the
// old object or the whole new one, never part of one, and a failed Put
// leaves nothing behind.
type Backend interface {
	// Open returns the object for reading.
	Open(ctx context.Context, name string) (Object, error)
	// Stat returns the object's size and modification time.
	Stat(ctx context.Context, name string) (Info, error)
	// Put stores everything r yields under name, replacing any object there.
	Put(ctx context.Context, name string, r io.Reader) error
	// List returns the base names of the objects directly under dir, sorted.
	// A dir with no objects yields an empty list, not an error.
	List(ctx context.Context, dir string) ([]string, error)
	// Delete removes the object; deleting a missing object is not an error.
	Delete(ctx context.Context, name string) error
	// Writable reports whether the store can take writes now (for /readyz).
	Writable(ctx context.Context) error
}

// Info describes a stored object.
type Info struct {
	Size    int64
	ModTime time.Time
}

// Object is an open stored object.
type Object interface {
	io.ReadSeekCloser
	Info() Info
}

// MaxNameLen bounds object names; the longest module paths are far shorter.
const MaxNameLen = 1024

// CheckName reports whether name is a safe object name: a relative slash
// path of non-empty elements, none of them "." or "..", with no backslash,
// NUL or other control character. Backends call it on every name, so no
// name can reach outside the store whatever the caller checked before.
func CheckName(name string) error {
	if name == "" || len(name) > MaxNameLen {
		return fmt.Errorf("storage: invalid name length %d", len(name))
	}
	if strings.HasPrefix(name, "/") || strings.HasSuffix(name, "/") {
		return fmt.Errorf("storage: invalid name %q", name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f || r == '\\' {
			return errors.New("storage: name has a control character or backslash")
		}
	}
	for _, elem := range strings.Split(name, "/") {
		if elem == "" || elem == "." || elem == ".." {
			return fmt.Errorf("storage: invalid name %q", name)
		}
	}
	return nil
}

// Stager is a Backend that can hand out a temporary file for an object,
// to be written and checked in place and then committed by rename (no
// second copy). The file is never visible under name before commit, and
// commit makes it durable before it is. The caller keeps ownership of f
// (closing it), and calls exactly one of commit or abort, or, after a
// failed commit, abort.
type Stager interface {
	Stage(ctx context.Context, name string) (f *os.File, commit func() error, abort func(), err error)
}
