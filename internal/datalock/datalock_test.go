package datalock

import (
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"
)

// A second Acquire on the same directory is refused with the directory and
// the holder's PID; after Release it succeeds. flock locks belong to the
// open file, so two opens in one process conflict as two processes would.
func TestSecondAcquireRefused(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Acquire(dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Acquire: %v, want ErrLocked", err)
	}
	msg := err.Error()
	if !strings.Contains(msg, dir) || !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("refusal does not name the directory and the holder: %s", msg)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l2.Release()
}

// A lock file left by a dead process (its PID still written in it) does not
// hold the directory: only a live flock does.
func TestLeftoverLockFileIsNoLock(t *testing.T) {
	dir := t.TempDir()
	l, err := Acquire(dir)
	if err != nil {
		t.Fatal(err)
	}
	l.Release()
	os.WriteFile(Path(dir), []byte("999999\n"), 0o644)
	l, err = Acquire(dir)
	if err != nil {
		t.Fatalf("Acquire over a leftover lock file: %v", err)
	}
	defer l.Release()
	data, _ := os.ReadFile(Path(dir))
	if strings.TrimSpace(string(data)) != strconv.Itoa(os.Getpid()) {
		t.Errorf("lock file holds %q, want our pid", data)
	}
}
