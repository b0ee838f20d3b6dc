// Package goproxy parses GOPROXY protocol requests and writes responses.
// It holds no storage or network code: the server asks it what a request
// means and how to answer, and asks the cache for the bytes.
package goproxy

import (
	"fmt"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// Kind is what a protocol request asks for.
type Kind string

const (
	KindList   Kind = "list"   // /<module>/@v/list
	KindInfo   Kind = "info"   // /<module>/@v/<version>.info
	KindMod    Kind = "mod"    // /<module>/@v/<version>.mod
	KindZip    Kind = "zip"    // /<module>/@v/<version>.zip
	KindLatest Kind = "latest" // /<module>/@latest
)

// Request is a parsed protocol request.
type Request struct {
	Module  string // unescaped module path
	Version string // canonical version; empty for list and latest
	Kind    Kind

	name string // storage name, from the escaped request path
}

// String returns "module@version" or "module" for messages and logs.
func (r Request) String() string {
	if r.Version == "" {
		return r.Module
	}
	return r.Module + "@" + r.Version
}

// MaxPathLen bounds the request path; real module paths are far shorter.
const MaxPathLen = 1024

// A ParseError is a malformed request: the client gets 400 (or 404 for a
// path that is not a protocol path at all) with Reason as the body.
type ParseError struct {
	NotFound bool
	Reason   string
}

func (e *ParseError) Error() string { return e.Reason }

func bad(format string, args ...any) error {
	return &ParseError{Reason: fmt.Sprintf(format, args...)}
}

// Parse parses the escaped URL path of a protocol request (without the
// leading slash of any mount point, but with its own leading "/"), as sent
// by the go command: module paths and versions are case-escaped with '!'.
//
// Anything the go command would not send is refused: percent-encoding
// (but for the %21 it sends, below), non-canonical escapes or versions, and
// paths or versions beginning with '-' that could be taken for flags by a
// child go or git.
func Parse(escapedPath string) (Request, error) {
	p := escapedPath
	if len(p) > MaxPathLen {
		return Request{}, bad("request path longer than %d bytes", MaxPathLen)
	}
	if !strings.HasPrefix(p, "/") {
		return Request{}, bad("request path must begin with /")
	}
	// The go command percent-encodes the '!' of case-escaping
	// (url.PathEscape in cmd/go's proxy client): github.com/%21burnt%21sushi.
	// That is the one escape it sends; every other stays refused.
	p = strings.ReplaceAll(p[1:], "%21", "!")
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x21 || c >= 0x7f || c == '%' || c == '\\' {
			return Request{}, bad("module paths may not contain %q", c)
		}
	}

	var escMod, rest string
	var req Request
	if m, ok := strings.CutSuffix(p, "/@latest"); ok {
		escMod, req.Kind = m, KindLatest
	} else if m, r, ok := strings.Cut(p, "/@v/"); ok {
		escMod, rest = m, r
		switch {
		case rest == "list":
			req.Kind = KindList
		case strings.HasSuffix(rest, ".info"):
			req.Kind, rest = KindInfo, strings.TrimSuffix(rest, ".info")
		case strings.HasSuffix(rest, ".mod"):
			req.Kind, rest = KindMod, strings.TrimSuffix(rest, ".mod")
		case strings.HasSuffix(rest, ".zip"):
			req.Kind, rest = KindZip, strings.TrimSuffix(rest, ".zip")
		default:
			return Request{}, &ParseError{NotFound: true, Reason: "not a module proxy request: want @v/list, @v/<version>.info, .mod or .zip"}
		}
	} else {
		return Request{}, &ParseError{NotFound: true, Reason: "not a module proxy request: want /<module>/@v/... or /<module>/@latest"}
	}

	mod, ok := plain(escMod), false
	if mod != "" && !strings.HasPrefix(mod, "-") && module.CheckPath(mod) == nil {
		ok = true // a path without escapes is itself; one CheckPath will do
	}
	if !ok {
		var err error
		if mod, err = module.UnescapePath(escMod); err != nil {
			return Request{}, bad("invalid escaped module path %q", escMod)
		}
		if strings.HasPrefix(mod, "-") {
			return Request{}, bad("invalid module path %q: begins with -", mod)
		}
		if err := module.CheckPath(mod); err != nil {
			return Request{}, bad("invalid module path: %v", trimModulePrefix(err))
		}
	}
	// UnescapePath refuses upper case and any '!' not before a lower-case
	// letter, so escaping mod again gives back escMod exactly: the escape
	// is canonical without a second check.
	req.Module = mod

	if req.Kind == KindList || req.Kind == KindLatest {
		return req, nil
	}
	v := plain(rest)
	if v == "" || module.CanonicalVersion(v) != v {
		var err error
		if v, err = module.UnescapeVersion(rest); err != nil {
			return Request{}, bad("invalid escaped version %q", rest)
		}
	}
	if strings.HasPrefix(v, "-") || !semver.IsValid(v) {
		return Request{}, bad("invalid version %q: want a semantic version such as v1.2.3", v)
	}
	if c := module.CanonicalVersion(v); c != v {
		return Request{}, bad("version %q is not canonical: ask for %q", v, c)
	}
	// As for the path, UnescapeVersion's rules make the escape canonical.
	// module.Check would check the path a third time; check only what it
	// adds, that the version fits the path's major version suffix.
	_, pathMajor, _ := module.SplitPathVersion(mod)
	if err := module.CheckPathMajor(v, pathMajor); err != nil {
		return Request{}, bad("%v", &module.ModuleError{Path: mod, Err: err})
	}
	req.Version = v
	req.name = escMod + "/@v/" + rest + "." + string(req.Kind)
	return req, nil
}

// plain returns s if unescaping it would give s back (no '!' and no upper
// case: module.UnescapePath and UnescapeVersion copy such a string
// byte by byte, a few allocations per hit), else "". s is printable ASCII.
func plain(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '!' || 'A' <= c && c <= 'Z' {
			return ""
		}
	}
	return s
}

func trimModulePrefix(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": "); i >= 0 && strings.HasPrefix(s, "malformed module path") {
		return s[i+2:]
	}
	return s
}

// StorageName returns the object name of an artifact in the module cache
// download layout. It is only defined for info, mod and zip requests.
func (r Request) StorageName() string {
	if r.name != "" {
		return r.name
	}
	return ArtifactName(r.Module, r.Version, r.Kind)
}

// ArtifactName returns "<escaped module>/@v/<escaped version>.<kind>".
func ArtifactName(mod, version string, kind Kind) string {
	em, ev := mod, version
	// Most paths and versions have no upper case, and escaping is the
	// identity on them; skip the checks that EscapePath repeats on every
	// cache hit. storage.CheckName still vets every name.
	if !plainLower(mod) {
		var err error
		if em, err = module.EscapePath(mod); err != nil {
			panic("goproxy: ArtifactName of unchecked path: " + err.Error())
		}
	}
	if !plainLower(version) {
		var err error
		if ev, err = module.EscapeVersion(version); err != nil {
			panic("goproxy: ArtifactName of unchecked version: " + err.Error())
		}
	}
	return em + "/@v/" + ev + "." + string(kind)
}

// plainLower reports whether s holds only characters that escaping leaves
// alone and that are valid in any module path or version element.
func plainLower(s string) bool {
	if s == "" || s[0] == '-' || s[0] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9', c == '.', c == '-', c == '/', c == '_', c == '~', c == '+':
		default:
			return false
		}
	}
	return true
}

// ListName returns "<escaped module>/@v/list", the name of the stored list
// of cached versions (as in the module cache, which makes the store a
// valid GOPROXY=file:// tree).
func ListName(mod string) string {
	em, err := module.EscapePath(mod)
	if err != nil {
		panic("goproxy: ListName of unchecked path: " + err.Error())
	}
	return em + "/@v/list"
}
