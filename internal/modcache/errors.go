package modcache

import (
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// UpstreamError is a failure to get an answer from an upstream (other than
// "not found", which is upstream.ErrNotFound).
type UpstreamError struct{ Err error }

func (e *UpstreamError) Error() string { return "upstream: " + e.Err.Error() }
func (e *UpstreamError) Unwrap() error { return e.Err }

// Timeout reports whether the upstream ran out of time.
func (e *UpstreamError) Timeout() bool { return errors.Is(e.Err, context.DeadlineExceeded) }

// InvalidError is an upstream answer that is malformed: a bad zip, an
// oversized file, .info for another version.
type InvalidError struct{ Msg string }

func (e *InvalidError) Error() string { return "upstream served an invalid artifact: " + e.Msg }

// StorageError is a failure of the store.
type StorageError struct{ Err error }

func (e *StorageError) Error() string { return "storage: " + e.Err.Error() }
func (e *StorageError) Unwrap() error { return e.Err }

// upstreamErr classifies an error from a Source.
func upstreamErr(err error) error {
	if errors.Is(err, upstream.ErrNotFound) {
		return fmt.Errorf("%w", err)
	}
	return &UpstreamError{Err: err}
}
