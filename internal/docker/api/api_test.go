package api

import (
	"errors"
	"net/url"
	"strings"
	"testing"
)

// decode returns the path as net/http hands it over: decoded once.
func decode(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.ParseRequestURI(raw)
	if err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return u.Path
}

func TestNormalise(t *testing.T) {
	for _, tc := range []struct{ raw, version, path string }{
		{"/_ping", "", "/_ping"},
		{"/v1.41/containers/json", "1.41", "/containers/json"},
		{"/v1.50/images/localhost:5000/team/app:1.0/json", "1.50", "/images/localhost:5000/team/app:1.0/json"},
		{"/v1.41/images/busybox@sha256:0123/json", "1.41", "/images/busybox@sha256:0123/json"},
		{"/version", "", "/version"},
		{"/volumes", "", "/volumes"},
		// dockerd decodes once before routing; so does gatehouse.
		{"/%63ontainers/json", "", "/containers/json"},
		{"/containers%2Fjson", "", "/containers/json"},
		{"/v1.41/%63ontainers/ID/%65xec", "1.41", "/containers/ID/exec"},
	} {
		p, err := Normalise(decode(t, tc.raw))
		if err != nil || p.Version != tc.version || p.Path != tc.path {
			t.Errorf("Normalise(%q) = %+v, %v; want version %q path %q", tc.raw, p, err, tc.version, tc.path)
		}
		if err == nil && p.Full() != decode(t, tc.raw) {
			t.Errorf("Full(%q) = %q", tc.raw, p.Full())
		}
	}
}

// Every trick from DOCKER-NOTES.md that dockerd accepts or redirects, and
// more, is refused.
func TestNormaliseRefuses(t *testing.T) {
	for _, raw := range []string{
		"", "containers/json", "/",
		"//containers/json", "/containers//json", "/containers/json/",
		"/./containers/json", "/containers/./json", "/containers/../containers/json",
		"/%2e%2e/containers/json", "/containers/%2E/json", "/containers%2F%2Fjson",
		"/v1.41./containers/json", "/v1.41../containers/json", "/v01.41/containers/json",
		"/v1.041/containers/json", "/v1.41.0/containers/json", "/v1.40.99/containers/json",
		"/v1/containers/json", "/v./containers/json", "/v1./containers/json", "/v.41/containers/json",
		"/v1.41", "/v1.41/", "/v1.41//containers/json",
		"/%2563ontainers/json", // double encoding leaves a '%'
		"/containers/json%00", "/containers/a%0Ab/json", "/containers/a%09/json",
		"/containers/a%5Cb/json", "/containers/a%3Fb/json", "/containers/a%23b/json",
		"/containers/%C3%A9/json", "/containers/a b/json",
	} {
		path := raw
		if u, err := url.ParseRequestURI(raw); err == nil {
			path = u.Path
		}
		if p, err := Normalise(path); err == nil {
			t.Errorf("Normalise(%q) = %+v, want an error", raw, p)
		}
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"GET", "/_ping", "GET /_ping"},
		{"HEAD", "/_ping", "HEAD /_ping"},
		{"GET", "/containers/json", "GET /containers/json"},
		{"GET", "/containers/abc/json", "GET /containers/{id}/json"},
		{"POST", "/containers/create", "POST /containers/create"},
		{"POST", "/containers/abc/attach", "POST /containers/{id}/attach"},
		{"GET", "/containers/abc/attach/ws", "GET /containers/{id}/attach/ws"},
		{"HEAD", "/containers/abc/archive", "HEAD /containers/{id}/archive"},
		{"GET", "/images/localhost:5000/team/app:1.0/json", "GET /images/{name}/json"},
		{"DELETE", "/images/team/app", "DELETE /images/{name}"},
		{"POST", "/exec/e1/start", "POST /exec/{id}/start"},
		{"GET", "/services/s1/logs", "GET /services/{id}/logs"},
		{"GET", "/services/s1", "GET /services/{id}"},
	} {
		e, err := Lookup(tc.method, tc.path)
		if err != nil || e.String() != tc.want {
			t.Errorf("Lookup(%s %s) = %v, %v; want %s", tc.method, tc.path, e, err, tc.want)
		}
	}
	for _, tc := range []struct {
		method, path string
		want         error
	}{
		{"HEAD", "/containers/json", ErrUnknown}, // HEAD only where dockerd serves it
		{"OPTIONS", "/containers/json", ErrUnknown},
		{"get", "/containers/json", ErrUnknown},
		{"POST", "/grpc", ErrUnknown},      // BuildKit, not in the API description
		{"GET", "/debug/vars", ErrUnknown}, // debug routes
		{"POST", "/containers/x/checkpoints", ErrUnknown},
		{"GET", "/services/a/b", ErrUnknown}, // swarm IDs are one segment
		{"GET", "/nope", ErrUnknown},
		// DELETE /containers/{name:.*} and the checkpoint route both take it.
		{"DELETE", "/containers/x/checkpoints/y", ErrAmbiguous},
	} {
		if e, err := Lookup(tc.method, tc.path); !errors.Is(err, tc.want) {
			t.Errorf("Lookup(%s %s) = %v, %v; want %v", tc.method, tc.path, e, err, tc.want)
		}
	}
}

// The endpoint table and dockerd's routes agree: every endpoint of the API
// description is reached by a path built from its own template.
func TestEveryEndpointIsRoutable(t *testing.T) {
	if len(endpoints) < 90 {
		t.Fatalf("only %d endpoints", len(endpoints))
	}
	for _, e := range endpoints {
		path := e.Path
		for strings.Contains(path, "{") {
			i, j := strings.Index(path, "{"), strings.Index(path, "}")
			path = path[:i] + "x1" + path[j+1:]
		}
		got, err := Lookup(e.Method, path)
		if err != nil || got != e {
			t.Errorf("Lookup(%s %s) = %v, %v; want %v", e.Method, path, got, err, e)
		}
		if !Known(e.Method, e.Path) {
			t.Errorf("Known(%v) = false", e)
		}
	}
}

// Normalise and Lookup never panic, and a normalised path, forwarded and
// decoded again by dockerd, normalises to itself.
func FuzzNormalise(f *testing.F) {
	for _, s := range []string{"/v1.41/containers/json", "/containers/x/json", "/v1.41./a", "//x", "/images/a/b/c/json"} {
		f.Add("GET", s)
	}
	f.Fuzz(func(t *testing.T, method, path string) {
		p, err := Normalise(path)
		if err != nil {
			return
		}
		u, err := url.Parse("http://docker" + (&url.URL{Path: p.Full()}).EscapedPath())
		if err != nil {
			t.Fatalf("forwarded path %q does not parse: %v", p.Full(), err)
		}
		if q, err := Normalise(u.Path); err != nil || q != p {
			t.Fatalf("Normalise(%q) = %+v; forwarded and decoded again: %+v, %v", path, p, q, err)
		}
		Lookup(method, p.Path)
	})
}

func TestTooOld(t *testing.T) {
	for v, old := range map[string]bool{"": false, "1.12": true, "1.23": true, "1.24": false, "1.41": false, "1.100": false, "0.99": true, "2.0": false} {
		if got := (Path{Version: v, Path: "/x"}).TooOld(); got != old {
			t.Errorf("version %q: TooOld = %v", v, got)
		}
	}
}
