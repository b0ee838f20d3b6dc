package fs

import (
	"errors"
	"os"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// openat2 is used while the kernel supports it (Linux 5.6+).
var noOpenat2 atomic.Bool

// openDir opens dir as a raw descriptor for openat2. A raw int, not an
// *os.File: (*os.File).Fd would switch it to blocking mode and race with
// Close under the race detector.
func openDir(dir string) (int, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return fd, nil
}

func closeDir(fd int) {
	if fd >= 0 {
		unix.Close(fd)
	}
}

// openBeneath opens name below dirfd in one openat2 call. RESOLVE_BENEATH
// and RESOLVE_NO_SYMLINKS make the kernel refuse any path that would leave
// the directory, by ".." or by a symlink: the same guarantee os.Root gives,
// without its walk of one openat per path element on every cache hit.
func openBeneath(dirfd int, root *os.Root, name string) (*os.File, error) {
	if !noOpenat2.Load() {
		fd, err := unix.Openat2(dirfd, name, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS,
		})
		switch {
		case err == nil:
			return os.NewFile(uintptr(fd), name), nil
		case errors.Is(err, unix.ENOSYS), errors.Is(err, unix.EPERM):
			// No openat2 (old kernel, or a seccomp filter that refuses it).
			noOpenat2.Store(true)
		case errors.Is(err, unix.ENOENT), errors.Is(err, unix.ENOTDIR):
			return nil, &os.PathError{Op: "open", Path: name, Err: os.ErrNotExist}
		default:
			return nil, &os.PathError{Op: "open", Path: name, Err: err}
		}
	}
	return root.Open(name)
}
