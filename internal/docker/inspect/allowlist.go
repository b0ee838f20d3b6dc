package inspect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// An Allowlist is the host directories containers may bind-mount.
//
// dockerd resolves a bind's source when the container starts (and on every
// restart, its own restart policy included), not when gatehouse checks the
// create request, so a check is only sound if nothing a client controls can
// change the path in between. The allowlist makes that so:
//
//   - a directory of bind_allowlist (and anything beneath it) may be mounted
//     read-only only, so no container can write there;
//   - a directory of bind_writable may be mounted read-write, but only as a
//     whole: a path beneath it is refused, since containers may have planted
//     symlinks there; the directory itself cannot be replaced by them, as its
//     parent is outside their reach;
//   - the source must exist when checked (dockerd would create a missing one
//     at start, through whatever is there by then).
//
// Paths are compared after resolving symlinks. gatehouse must run on the
// Docker host for that to mean anything, and the host's own untrusted users
// must not be able to write to these directories.
type Allowlist struct {
	dirs     []string // read-only, absolute, symlinks resolved
	writable []string // read-write as a whole, absolute, symlinks resolved
}

// NewAllowlist resolves dirs (read-only) and writable, which must be
// absolute and exist. A writable directory must not lie beneath another one
// or hold a read-only one: containers could replace what is beneath it.
func NewAllowlist(dirs, writable []string) (*Allowlist, error) {
	a := &Allowlist{}
	var err error
	if a.dirs, err = resolveAll(dirs, "bind allowlist"); err != nil {
		return nil, err
	}
	if a.writable, err = resolveAll(writable, "bind_writable"); err != nil {
		return nil, err
	}
	for i, w := range a.writable {
		for j, o := range a.writable {
			if i != j && beneath(w, o) {
				return nil, fmt.Errorf("bind_writable entry %q lies beneath %q, which containers may write to", writable[i], writable[j])
			}
		}
		for k, d := range a.dirs {
			if d == w || beneath(d, w) {
				return nil, fmt.Errorf("bind allowlist entry %q lies in bind_writable %q, which containers may write to", dirs[k], writable[i])
			}
		}
	}
	return a, nil
}

func resolveAll(dirs []string, what string) ([]string, error) {
	var out []string
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("%s entry %q is not an absolute path", what, d)
		}
		r, err := filepath.EvalSymlinks(d)
		if err != nil {
			return nil, fmt.Errorf("%s entry %q: %v", what, d, errors.Unwrap(err))
		}
		out = append(out, r)
	}
	return out, nil
}

// beneath reports whether p lies strictly beneath directory d.
func beneath(p, d string) bool {
	return d == "/" && p != "/" || strings.HasPrefix(p, d+"/")
}

// Check returns an error unless host path p may be bind-mounted now,
// read-only or not: p must exist and, resolved, be a bind_writable directory
// itself, or (read-only only) an allowlisted directory or beneath one.
func (a *Allowlist) Check(p string, readOnly bool) error {
	if !filepath.IsAbs(p) {
		return errors.New("not an absolute path")
	}
	// The kernel resolves "link/.." through the link; a lexical Clean
	// would not. Refuse what the two could read differently.
	if filepath.Clean(p) != strings.TrimSuffix(p, "/") && p != "/" {
		return errors.New("path is not clean (., .. or //)")
	}
	if len(a.dirs) == 0 && len(a.writable) == 0 {
		return errors.New("no host paths are allowed (bind_allowlist and bind_writable are empty)")
	}
	p = filepath.Clean(p)
	r, err := filepath.EvalSymlinks(p)
	if errors.Is(err, os.ErrNotExist) {
		return errors.New("it does not exist (dockerd would create it when the container starts, after this check)")
	}
	if err != nil {
		return errors.New("cannot resolve path")
	}
	for _, w := range a.writable {
		// Both the path as given and as resolved: dockerd walks the
		// given one again at start, through what containers wrote.
		if beneath(p, w) || beneath(r, w) {
			return fmt.Errorf("it lies beneath bind_writable directory %q, where containers may plant symlinks; mount the directory itself", w)
		}
	}
	for _, w := range a.writable {
		if r == w {
			return nil
		}
	}
	for _, d := range a.dirs {
		if r == d || beneath(r, d) {
			if !readOnly {
				return errors.New("directories of bind_allowlist may only be mounted read-only (add :ro, or list the directory in bind_writable)")
			}
			return nil
		}
	}
	return errors.New("not under a directory of bind_allowlist")
}
