// Package retry repeats idempotent upstream requests that failed for a
// reason that may pass: a broken connection or a 5xx answer. Answers that
// will not change (4xx, a bad artifact) and the caller's own deadline or
// cancellation end it at once.
package retry

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"syscall"
	"time"
)

// Policy says how often and how patiently to try.
type Policy struct {
	Attempts int           // tries in all, the first included
	Base     time.Duration // wait before the second try; doubled each time
	Max      time.Duration // longest wait
}

// Default is 3 tries, waiting about 0.2 s and then 0.4 s.
var Default = Policy{Attempts: 3, Base: 200 * time.Millisecond, Max: 2 * time.Second}

// StatusError is an error that carries an HTTP status: 5xx may be retried.
type StatusError interface{ HTTPStatusCode() int }

// Do calls try until it returns nil or an error that Retryable rejects,
// the attempts are used up, or ctx is done or would be done before the
// next try starts: the overall deadline is ctx's. onRetry, if not nil, is
// told of each failure that is tried again and how long Do waits first.
func (p Policy) Do(ctx context.Context, try func(context.Context) error, onRetry func(attempt int, wait time.Duration, err error)) error {
	attempts := max(p.Attempts, 1)
	for n := 1; ; n++ {
		err := try(ctx)
		if err == nil || n >= attempts || ctx.Err() != nil || !Retryable(err) {
			return err
		}
		wait := p.wait(n)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return err // no time left for another try
		}
		if onRetry != nil {
			onRetry(n, wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
	}
}

// wait returns the pause after the nth failure: Base·2ⁿ⁻¹, at most Max,
// with ±25% jitter so that replicas retrying together do not stay in step.
func (p Policy) wait(n int) time.Duration {
	d := p.Base << (n - 1)
	if d <= 0 || (p.Max > 0 && d > p.Max) {
		d = p.Max
	}
	return d - d/4 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// Final marks err as not to be tried again: a failure an inner layer has
// retried already.
func Final(err error) error { return &finalError{err} }

type finalError struct{ err error }

func (e *finalError) Error() string { return e.err.Error() }
func (e *finalError) Unwrap() error { return e.err }

// Retryable reports whether err may go away when the request is repeated:
// a 5xx answer, or a connection refused, reset or cut short. Cancellation,
// deadlines and anything else (4xx, TLS verification, bad URLs) are final.
func Retryable(err error) bool {
	var final *finalError
	if err == nil || errors.As(err, &final) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se StatusError
	if errors.As(err, &se) {
		return se.HTTPStatusCode() >= 500
	}
	var op *net.OpError
	return errors.As(err, &op) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF)
}
