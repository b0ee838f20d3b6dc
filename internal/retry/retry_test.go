package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"
	"time"
)

type status int

func (s status) Error() string       { return fmt.Sprint(int(s)) }
func (s status) HTTPStatusCode() int { return int(s) }

func TestRetryable(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{status(500), true},
		{fmt.Errorf("wrapped: %w", status(503)), true},
		{status(404), false},
		{status(429), false},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{fmt.Errorf("read: %w", syscall.ECONNRESET), true},
		{io.ErrUnexpectedEOF, true},
		{context.Canceled, false},
		{fmt.Errorf("x: %w", context.DeadlineExceeded), false},
		{Final(status(502)), false},
		{errors.New("x509: certificate signed by unknown authority"), false},
	} {
		if got := Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

// Waits double from Base, stay within ±25%, and stop growing at Max.
func TestWait(t *testing.T) {
	p := Policy{Attempts: 5, Base: 100 * time.Millisecond, Max: 300 * time.Millisecond}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 300 * time.Millisecond, 4: 300 * time.Millisecond} {
		for range 50 {
			if d := p.wait(n); d < want*3/4 || d > want*5/4 {
				t.Fatalf("wait(%d) = %v, want %v ± 25%%", n, d, want)
			}
		}
	}
}

// Do stops at the attempts, at a final error, and when the deadline would
// cut the next wait.
func TestDo(t *testing.T) {
	fast := Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}
	tries := 0
	err := fast.Do(context.Background(), func(context.Context) error { tries++; return status(502) }, nil)
	if tries != 3 || err == nil {
		t.Errorf("always 502: %d tries, err %v", tries, err)
	}
	tries = 0
	fast.Do(context.Background(), func(context.Context) error { tries++; return status(404) }, nil)
	if tries != 1 {
		t.Errorf("404: %d tries", tries)
	}
	tries = 0
	slow := Policy{Attempts: 3, Base: time.Second, Max: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	slow.Do(ctx, func(context.Context) error { tries++; return status(502) }, nil)
	if tries != 1 || time.Since(start) > 50*time.Millisecond {
		t.Errorf("a wait longer than the deadline: %d tries in %v", tries, time.Since(start))
	}
}
