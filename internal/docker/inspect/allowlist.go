package inspect

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// An Allowlist is the host directories containers may bind-mount. Paths are
// compared after resolving symlinks, so a link inside an allowed directory
// that points elsewhere is refused. gatehouse must run on the Docker host for
// that to mean anything; a path changed between the check and the mount
// (a symlink swapped in) is out of its reach: keep allowed directories out
// of reach of the clients' own writes where that matters.
type Allowlist struct {
	dirs []string // absolute, symlinks resolved
}

// NewAllowlist resolves dirs, which must be absolute and exist.
func NewAllowlist(dirs []string) (*Allowlist, error) {
	a := &Allowlist{}
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("bind allowlist entry %q is not an absolute path", d)
		}
		r, err := filepath.EvalSymlinks(d)
		if err != nil {
			return nil, fmt.Errorf("bind allowlist entry %q: %v", d, errors.Unwrap(err))
		}
		a.dirs = append(a.dirs, r)
	}
	return a, nil
}

// Check returns an error unless host path p is, once resolved, an allowed
// directory or beneath one.
func (a *Allowlist) Check(p string) error {
	if !filepath.IsAbs(p) {
		return errors.New("not an absolute path")
	}
	// The kernel resolves "link/.." through the link; a lexical Clean
	// would not. Refuse what the two could read differently.
	if filepath.Clean(p) != strings.TrimSuffix(p, "/") && p != "/" {
		return errors.New("path is not clean (., .. or //)")
	}
	if len(a.dirs) == 0 {
		return errors.New("no host paths are allowed (bind_allowlist is empty)")
	}
	r, err := resolve(filepath.Clean(p))
	if err != nil {
		return err
	}
	for _, d := range a.dirs {
		if r == d || strings.HasPrefix(r, d+"/") || d == "/" {
			return nil
		}
	}
	return errors.New("not under a directory of bind_allowlist")
}

// resolve resolves the symlinks of the longest existing prefix of p (dockerd
// creates a missing bind source as a directory).
func resolve(p string) (string, error) {
	rest := ""
	for {
		r, err := filepath.EvalSymlinks(p)
		if err == nil {
			return filepath.Join(r, rest), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", errors.New("cannot resolve path")
		}
		if _, err := os.Lstat(p); err == nil {
			return "", errors.New("path holds a dangling symlink")
		}
		parent := filepath.Dir(p)
		if parent == p {
			return "", errors.New("cannot resolve path")
		}
		rest = filepath.Join(filepath.Base(p), rest)
		p = parent
	}
}
