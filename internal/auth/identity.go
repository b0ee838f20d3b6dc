// Package auth turns a request's credentials into an Identity: tokens,
// HTTP Basic auth, client certificates, OIDC/JWT, or anonymous.
package auth

import (
	"context"
	"slices"
)

// An Identity is who made a request, as proven by its credentials.
type Identity struct {
	Name   string   // "anonymous" when no credentials were needed
	Method string   // token, basic, mtls, oidc, anonymous
	Groups []string // from config or token claims
}

// Anonymous is the identity of a request without credentials where those
// are allowed.
var Anonymous = &Identity{Name: "anonymous", Method: "anonymous"}

// InGroup reports whether id belongs to group g.
func (id *Identity) InGroup(g string) bool {
	return id != nil && slices.Contains(id.Groups, g)
}

type ctxKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id *Identity) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// FromContext returns the identity of ctx, or nil when the request was not
// authenticated (no authentication is configured).
func FromContext(ctx context.Context) *Identity {
	id, _ := ctx.Value(ctxKey{}).(*Identity)
	return id
}

type limitKey struct{}

// LimitKey returns the key the request's rate and fair share are counted
// by: one per token or identity, and for anonymous clients one per address
// (per /64 for IPv6). "" when the request was not authenticated.
func LimitKey(ctx context.Context) string {
	k, _ := ctx.Value(limitKey{}).(string)
	return k
}
