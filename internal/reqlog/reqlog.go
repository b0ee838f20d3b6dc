// Package reqlog carries one request's facts (who, what, decision, source)
// through the layers that learn them, so the access log and the audit log
// each get one complete record per request.
package reqlog

import (
	"context"
	"time"
)

// Entry is what is known about one request. Each layer fills in its part.
type Entry struct {
	ID string // request id: gatehouse's own, never the client's
	// ClientRequestID is the X-Request-Id the client sent, if it was a
	// plain token: a claim of the client's, kept apart from ID.
	ClientRequestID string
	Start           time.Time
	Client          string // client address (after trusted-proxy resolution)
	Method          string
	Path            string // decoded
	RawURI          string // the request target as sent (capped), for what decoding hides

	Identity   string // "" until authentication; "anonymous" if none
	AuthMethod string
	Groups     []string

	Module, Version, Kind string

	Decision string // allow, deny, error, would-deny
	Reason   string
	Rule     string

	Source string // cache, upstream
	H1     string

	Status int
	Bytes  int64
}

type key struct{}

// With returns ctx carrying e.
func With(ctx context.Context, e *Entry) context.Context {
	return context.WithValue(ctx, key{}, e)
}

// From returns the Entry of ctx, or a throwaway one if there is none, so
// callers never need to check.
func From(ctx context.Context) *Entry {
	if e, ok := ctx.Value(key{}).(*Entry); ok {
		return e
	}
	return &Entry{}
}
