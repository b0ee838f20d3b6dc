// Package api knows the Docker Engine API's endpoints and how dockerd routes a
// request path to one of them. The endpoint table is generated from the API's
// OpenAPI description (see gen/); Normalise and Lookup turn a request into
// exactly one endpoint of that table, or refuse it, so that a rule can never
// be matched against a path that dockerd would route elsewhere.
package api

//go:generate go run ./gen -version v28.2.2+incompatible -routes-also v20.10.24+incompatible -o endpoints_gen.go

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// An Endpoint is one operation of the Docker Engine API: a method and a path
// template whose {parameters} stand for names or IDs.
type Endpoint struct {
	Method    string // GET, HEAD, POST, PUT or DELETE
	Path      string // template as in the API description, e.g. /containers/{id}/json
	Operation string // operationId, e.g. ContainerInspect
}

func (e Endpoint) String() string { return e.Method + " " + e.Path }

// Endpoints returns a copy of the endpoint table.
func Endpoints() []Endpoint { return append([]Endpoint(nil), endpoints...) }

// A Path is a request path after normalisation.
type Path struct {
	Version string // API version of a /v<major>.<minor> prefix, or ""
	Path    string // the path without the version prefix, e.g. /containers/abc/json
}

// MinVersion is the oldest API version gatehouse forwards. Older versions
// change what bodies mean (dockerd 20.10 still applies a HostConfig sent with
// container start below 1.24); the docker CLI and SDKs negotiate a newer one.
const MinVersion = "1.24"

// TooOld reports whether p asks for an API version older than MinVersion.
// A path without a version prefix gets dockerd's current version.
func (p Path) TooOld() bool {
	return p.Version != "" && versionLess(p.Version, MinVersion)
}

func versionLess(a, b string) bool {
	amaj, amin, _ := strings.Cut(a, ".")
	bmaj, bmin, _ := strings.Cut(b, ".")
	x, _ := strconv.Atoi(amaj)
	y, _ := strconv.Atoi(bmaj)
	if x != y {
		return x < y
	}
	x, _ = strconv.Atoi(amin)
	y, _ = strconv.Atoi(bmin)
	return x < y
}

// Full is the path to forward to dockerd: version prefix and path, exactly
// the path the endpoint was matched on.
func (p Path) Full() string {
	if p.Version == "" {
		return p.Path
	}
	return "/v" + p.Version + p.Path
}

// Normalise checks a request path as decoded once from the request line
// (net/http's URL.Path, which is also what dockerd routes on) and splits off
// the API version. It refuses anything whose meaning could differ between
// gatehouse and dockerd: empty, "." or ".." segments (dockerd redirects
// those), a trailing slash, a version prefix other than /v<major>.<minor>
// (dockerd accepts /v1.41./, /v01.41/ and the like), and characters that only
// an encoding trick produces: '%' left after decoding, '\', control bytes and
// non-ASCII.
func Normalise(decoded string) (Path, error) {
	if !strings.HasPrefix(decoded, "/") {
		return Path{}, errors.New("path does not start with /")
	}
	for i := 0; i < len(decoded); i++ {
		c := decoded[i]
		if c < 0x21 || c > 0x7e || c == '%' || c == '\\' || c == '?' || c == '#' {
			return Path{}, fmt.Errorf("path holds the byte %q, which no Docker API path needs", c)
		}
	}
	segs := strings.Split(decoded[1:], "/")
	for _, s := range segs {
		switch s {
		case "":
			return Path{}, errors.New("path has an empty segment (// or a trailing /)")
		case ".", "..":
			return Path{}, errors.New("path has a . or .. segment")
		}
	}
	var p Path
	if v, ok := versionSegment(segs[0]); ok {
		if v == "" {
			return Path{}, fmt.Errorf("API version prefix %q is not /v<major>.<minor>", "/"+segs[0])
		}
		p.Version = v
		segs = segs[1:]
		if len(segs) == 0 {
			return Path{}, errors.New("path has only a version prefix")
		}
	}
	p.Path = "/" + strings.Join(segs, "/")
	return p, nil
}

// versionSegment reports whether s is what dockerd's router takes for a
// version prefix (v followed by digits and dots), and returns the version if
// it is in canonical form: major.minor without leading zeros.
func versionSegment(s string) (version string, isPrefix bool) {
	if len(s) < 2 || s[0] != 'v' || strings.Trim(s[1:], "0123456789.") != "" {
		return "", false
	}
	major, minor, ok := strings.Cut(s[1:], ".")
	if !ok || !canonicalNumber(major) || !canonicalNumber(minor) {
		return "", true
	}
	return s[1:], true
}

func canonicalNumber(s string) bool {
	if s == "" || len(s) > 3 || strings.Trim(s, "0123456789") != "" {
		return false
	}
	return s == "0" || s[0] != '0'
}

// Errors of Lookup.
var (
	ErrUnknown   = errors.New("not an endpoint of the Docker Engine API")
	ErrAmbiguous = errors.New("path matches more than one dockerd route")
)

// A route is one of dockerd's own route patterns: {name} matches one path
// segment, {name:.*} any number (image references hold slashes).
type route struct {
	Method  string
	Pattern string
}

// Lookup returns the endpoint that dockerd routes method and a normalised
// path (without version prefix) to. It matches the path against dockerd's
// route patterns the way dockerd's router does; a path that more than one
// route could take depends on the router's order and is refused rather than
// guessed at, and a route that the API description does not list (debug,
// checkpoints, BuildKit's /grpc) is unknown.
func Lookup(method, path string) (Endpoint, error) {
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	var hit *route
	for i := range routes {
		r := &routes[i]
		if r.Method == method && matchSegments(splitPath(r.Pattern), segs) {
			if hit != nil {
				return Endpoint{}, ErrAmbiguous
			}
			hit = r
		}
	}
	if hit == nil {
		return Endpoint{}, ErrUnknown
	}
	want := Shape(hit.Pattern)
	for _, e := range endpoints {
		if e.Method == method && Shape(e.Path) == want {
			return e, nil
		}
	}
	return Endpoint{}, ErrUnknown
}

// Known reports whether method and template name an endpoint of the table.
func Known(method, template string) bool {
	for _, e := range endpoints {
		if e.Method == method && e.Path == template {
			return true
		}
	}
	return false
}

func splitPath(p string) []string { return strings.Split(strings.TrimPrefix(p, "/"), "/") }

// Shape is a path pattern with its parameter names blanked, so that a swagger
// template (/containers/{id}/json), a route (/containers/{name:.*}/json) and a
// rule written with another name (/containers/{name}/json) compare equal.
func Shape(p string) string {
	segs := splitPath(p)
	for i, s := range segs {
		if strings.HasPrefix(s, "{") {
			segs[i] = "{}"
		}
	}
	return "/" + strings.Join(segs, "/")
}

// matchSegments matches path segments against pattern segments. Path
// segments are never empty (Normalise refuses those), so {x:.*} and {x:.+}
// both take one or more segments, {x} exactly one.
func matchSegments(pat, segs []string) bool {
	if len(pat) == 0 {
		return len(segs) == 0
	}
	p := pat[0]
	if !strings.HasPrefix(p, "{") {
		return len(segs) > 0 && segs[0] == p && matchSegments(pat[1:], segs[1:])
	}
	if !strings.Contains(p, ":") {
		return len(segs) > 0 && matchSegments(pat[1:], segs[1:])
	}
	for n := 1; n <= len(segs); n++ {
		if matchSegments(pat[1:], segs[n:]) {
			return true
		}
	}
	return false
}
