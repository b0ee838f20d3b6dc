package auth

import (
	"encoding/base64"
	"errors"
	"strings"
)

// Credentials are what an Authorization header carries.
type Credentials struct {
	Scheme string // "bearer" or "basic"
	User   string // Basic only; informational, the secret decides
	Secret string // the bearer token, or the Basic password
}

// MaxAuthorizationLen bounds the header; ID tokens are a few KiB at most.
const MaxAuthorizationLen = 8 << 10

// Errors of ParseAuthorization. Their text never includes the header.
var (
	ErrMalformed   = errors.New("malformed Authorization header")
	ErrUnsupported = errors.New("unsupported Authorization scheme: use Bearer or Basic")
)

// ParseAuthorization parses an Authorization header value of the Bearer
// (RFC 6750) or Basic (RFC 7617) scheme. Schemes are case-insensitive;
// anything else, or a malformed value, is an error.
func ParseAuthorization(h string) (Credentials, error) {
	if len(h) > MaxAuthorizationLen {
		return Credentials{}, ErrMalformed
	}
	scheme, rest, ok := strings.Cut(h, " ")
	if !ok {
		if strings.EqualFold(h, "bearer") || strings.EqualFold(h, "basic") {
			return Credentials{}, ErrMalformed
		}
		return Credentials{}, ErrUnsupported
	}
	rest = strings.TrimLeft(rest, " ")
	switch {
	case strings.EqualFold(scheme, "bearer"):
		if !isToken68(rest) {
			return Credentials{}, ErrMalformed
		}
		return Credentials{Scheme: "bearer", Secret: rest}, nil
	case strings.EqualFold(scheme, "basic"):
		if !isToken68(rest) {
			return Credentials{}, ErrMalformed
		}
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return Credentials{}, ErrMalformed
		}
		user, pass, ok := strings.Cut(string(raw), ":")
		if !ok || pass == "" || !printable(user) || !printable(pass) {
			return Credentials{}, ErrMalformed
		}
		return Credentials{Scheme: "basic", User: user, Secret: pass}, nil
	}
	return Credentials{}, ErrUnsupported
}

// isToken68 reports whether s is a non-empty token68 (RFC 9110 §11.2):
// letters, digits, "-._~+/", then optional trailing "=".
func isToken68(s string) bool {
	if s == "" {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~+/", c) >= 0) {
			break
		}
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// printable reports whether s is valid UTF-8 without control characters.
func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return false
		}
	}
	return true
}
