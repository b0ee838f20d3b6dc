// Package atomicfile replaces small files whole: readers see the old
// content or the new, never a mix, and a crash leaves no partial file.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write writes data to a temporary file beside name, syncs it, and renames
// it over name. The temporary file is removed on any failure.
func Write(name string, data []byte, perm os.FileMode) error {
	return place(name, data, perm, os.Rename)
}

// Create writes data to a new file name, never replacing one that exists
// (it returns an error satisfying errors.Is(err, fs.ErrExist) then). As
// with Write, a crash leaves either no file or the whole one: the data is
// synced in a temporary file that is then hard-linked into place.
func Create(name string, data []byte, perm os.FileMode) error {
	return place(name, data, perm, os.Link)
}

// place writes data to a synced temporary file beside name and puts it at
// name with put (rename: replace; link: only if name is new).
func place(name string, data []byte, perm os.FileMode, put func(tmp, name string) error) error {
	f, err := os.CreateTemp(filepath.Dir(name), ".tmp-"+filepath.Base(name)+"-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // no-op after a rename; the spare name after a link
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := put(f.Name(), name); err != nil {
		return err
	}
	syncDir(filepath.Dir(name)) // make the new name itself durable
	return nil
}

func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}
