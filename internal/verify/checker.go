// Package verify decides whether downloaded module bytes may be trusted:
// zip and go.mod checks, h1 hashes, and Checkers that vouch for hashes (the
// public checksum database, or gatehouse's own ledger for private modules).
package verify

import (
	"context"
	"fmt"
)

// A Checker vouches for module hashes. version is "v1.2.3" for the module
// zip's hash and "v1.2.3/go.mod" for the go.mod file's, as in go.sum; h1 is
// the "h1:..." hash of the downloaded bytes. Check returns nil if the hash
// is the one vouched for, a *MismatchError if another is, and any other
// error if it cannot tell (which must also stop the download).
type Checker interface {
	Check(ctx context.Context, path, version, h1 string) error
}

// MismatchError reports downloaded bytes whose hash differs from the one
// vouched for: either the upstream is serving tampered content or a tag moved.
type MismatchError struct {
	Path, Version string
	Got           string // hash of the downloaded bytes
	Want          string // hash vouched for
	Authority     string // who vouched: "sum.golang.org", "gatehouse ledger"
	Hint          string // replaces the last line of the message, if set
}

func (e *MismatchError) Error() string {
	hint := e.Hint
	if hint == "" {
		hint = "This download may have been tampered with; nothing was stored."
	}
	return fmt.Sprintf("SECURITY ERROR: checksum mismatch for %s@%s\n\tdownloaded: %s\n\t%s: %s\n%s",
		e.Path, e.Version, e.Got, e.Authority, e.Want, hint)
}

// Chain is a Checker that asks each Checker in turn; all must agree.
type Chain []Checker

func (c Chain) Check(ctx context.Context, path, version, h1 string) error {
	for _, ch := range c {
		if err := ch.Check(ctx, path, version, h1); err != nil {
			return err
		}
	}
	return nil
}
