package logbuf

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for the flusher and the test at once,
// counting the writes it gets.
type syncBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes++
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Buffered lines wait for the timer, go out in one write, and keep their
// order with direct ones; Close writes out the rest and lets later lines
// through.
func TestBufferedAndDirectKeepOrder(t *testing.T) {
	out := &syncBuffer{}
	w := New(out, time.Hour, 1<<10)
	fmt.Fprintln(w, "request 1")
	fmt.Fprintln(w, "request 2")
	if got := out.String(); got != "" {
		t.Fatalf("written before a flush: %q", got)
	}
	fmt.Fprintln(w.Direct(), "error A")
	fmt.Fprintln(w, "request 3")
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(w, "after close")
	want := "request 1\nrequest 2\nerror A\nrequest 3\nafter close\n"
	if got := out.String(); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	if out.writes != 4 {
		t.Errorf("%d writes, want 4 (buffered lines go out together)", out.writes)
	}
}

// The timer writes lines out; a full buffer writes at once and never
// splits a line; a line larger than the buffer goes straight through.
func TestFlushOnTimerAndWhenFull(t *testing.T) {
	out := &syncBuffer{}
	w := New(out, 20*time.Millisecond, 16)
	defer w.Close()
	fmt.Fprintln(w, "tick")
	for deadline := time.Now().Add(5 * time.Second); out.String() != "tick\n"; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the timer did not flush: %q", out.String())
		}
	}
	w.Flush()
	w2 := New(&syncBuffer{}, time.Hour, 16)
	defer w2.Close()
	out2 := w2.out.(*syncBuffer)
	fmt.Fprint(w2, "0123456789\n") // 11 bytes kept
	fmt.Fprint(w2, "abcdefghij\n") // does not fit: the first goes out whole
	fmt.Fprint(w2, strings.Repeat("x", 40)+"\n")
	if got, want := out2.String(), "0123456789\nabcdefghij\n"+strings.Repeat("x", 40)+"\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
