// Package datalock keeps two gatehouse processes from using one data
// directory at once: both would write the store, the own checksum log and
// the checksum-database state, and neither knows of the other's writes.
//
// The lock is flock(2) on <dir>/.gatehouse/lock. The kernel drops it when
// the process ends however it ends (SIGKILL and OOM kills included), so a
// crash never leaves a stale lock to clear by hand. The holder's PID is
// written into the file so that the refusal can name it.
package datalock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Lock is a held data-directory lock.
type Lock struct{ f *os.File }

// ErrLocked is wrapped by the error Acquire returns when another process
// holds the lock.
var ErrLocked = errors.New("data directory is in use")

// Path returns the lock file of the data directory dir.
func Path(dir string) string { return filepath.Join(dir, ".gatehouse", "lock") }

// Acquire takes the lock of the data directory dir without waiting. If
// another process holds it, the error names the directory and that
// process's PID.
func Acquire(dir string) (*Lock, error) {
	name := Path(dir)
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	// Not O_TRUNC: the file holds the current holder's PID.
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("data directory lock: %w", err)
	}
	if err := flock(f); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s is locked by another gatehouse (%s); stop it, or give this one its own --data directory", ErrLocked, dir, holder(name))
		}
		return nil, fmt.Errorf("data directory lock %s: %w", name, err)
	}
	// Ours now: record our PID for the next one that is refused.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return &Lock{f: f}, nil
}

func flock(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err != unix.EINTR {
			return err
		}
	}
}

// holder describes the process named in the lock file.
func holder(name string) string {
	data, err := os.ReadFile(name)
	if err != nil {
		return "pid unknown"
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 0 {
		return "pid unknown"
	}
	return "pid " + strconv.Itoa(pid)
}

// Release gives the lock up. The lock file stays: removing it would let a
// process that opened it before the removal hold a lock on a file nobody
// else can see.
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}
