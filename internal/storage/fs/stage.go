package fs

import (
	"context"
	"os"
	"path/filepath"
)

// Stage creates a temporary file next to where name will live, hidden from
// readers like any file being written (a crash leaves only a temporary file
// that RemoveStaleTemp clears). The caller writes and checks it, then calls
// commit, which syncs it and renames it into place, or abort, which removes
// it. This lets a zip be downloaded straight into the store and committed
// without a second copy once it has been verified.
func (s *Store) Stage(ctx context.Context, name string) (f *os.File, commit func() error, abort func(), err error) {
	if err := check(name); err != nil {
		return nil, nil, nil, err
	}
	dir := filepath.Dir(filepath.FromSlash(name))
	if err := s.root.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, nil, err
	}
	tmp, err := createTemp(s.root, dir)
	if err != nil {
		return nil, nil, nil, err
	}
	tmpName := filepath.Join(dir, filepath.Base(tmp.Name()))
	commit = func() error {
		if err := tmp.Sync(); err != nil {
			return err
		}
		return s.root.Rename(tmpName, filepath.FromSlash(name))
	}
	abort = func() { s.root.Remove(tmpName) }
	return tmp, commit, abort, nil
}
