// Package upstream fetches modules from where they come from: a chain of
// proxies in GOPROXY syntax, or (for private modules) their own VCS.
package upstream

import (
	"context"
	"errors"
	"io"
)

// ErrNotFound means the source does not have the module or version: the
// equivalent of a proxy's 404 or 410. Other errors are failures.
var ErrNotFound = errors.New("not found")

// A Source serves the GOPROXY protocol for unescaped module paths and
// canonical versions. Results are raw: callers verify before trusting them.
type Source interface {
	// List returns the known versions of path (the @v/list body, split).
	List(ctx context.Context, path string) ([]string, error)
	// Latest returns the .info JSON for path's @latest.
	Latest(ctx context.Context, path string) ([]byte, error)
	// Info returns the .info JSON for path@version.
	Info(ctx context.Context, path, version string) ([]byte, error)
	// GoMod returns the go.mod file of path@version.
	GoMod(ctx context.Context, path, version string) ([]byte, error)
	// Zip returns the module zip of path@version; the caller closes it.
	Zip(ctx context.Context, path, version string) (io.ReadCloser, error)
}
