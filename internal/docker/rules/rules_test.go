package rules

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
)

func TestParse(t *testing.T) {
	for _, s := range []string{
		"GET /containers/{id}/json", "GET /containers/{name}/json", "POST /containers/**",
		"* /**", "HEAD /_ping", "* /images/{name}/json", "DELETE /volumes/{name}",
	} {
		if _, err := Parse(s); err != nil {
			t.Errorf("Parse(%q): %v", s, err)
		}
	}
	for _, s := range []string{
		"", "GET", "/containers/json", "get /containers/json", "PATCH /containers/json",
		"GET containers/json", "GET /containers/*", "GET /*/json", "GET /containers/**/json",
		"GET /containers/{id}/shell", // no such endpoint
		"HEAD /containers/json",      // no such method for it
		"GET /containers/{id}/{x}",   // shape does not exist
		"POST /nothing/**",
	} {
		if r, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) = %v, want an error", s, r)
		}
	}
}

func lookup(t *testing.T, method, path string) api.Endpoint {
	t.Helper()
	e, err := api.Lookup(method, path)
	if err != nil {
		t.Fatalf("Lookup(%s %s): %v", method, path, err)
	}
	return e
}

func TestPresets(t *testing.T) {
	ro, _ := Preset("read-only")
	ci, _ := Preset("ci")
	full, _ := Preset("full")
	if ro == nil || ci == nil || full == nil {
		t.Fatal("a preset is missing")
	}
	for _, tc := range []struct {
		method, path string
		ro, ci, full bool
	}{
		{"HEAD", "/_ping", true, true, true},
		{"GET", "/containers/json", true, true, true},
		{"GET", "/containers/c1/json", true, true, true},
		{"GET", "/containers/c1/logs", true, true, true},
		{"GET", "/events", true, true, true},
		{"GET", "/containers/c1/attach/ws", false, false, true},
		{"GET", "/containers/c1/archive", false, true, true},
		{"GET", "/containers/c1/export", false, false, true},
		{"POST", "/containers/create", false, true, true},
		{"POST", "/containers/c1/exec", false, true, true},
		{"POST", "/exec/e1/start", false, true, true},
		{"POST", "/build", false, true, true},
		{"POST", "/images/load", false, false, true},
		{"POST", "/plugins/pull", false, false, true},
		{"POST", "/swarm/init", false, false, true},
		{"POST", "/commit", false, false, true},
		{"POST", "/containers/c1/update", false, false, true},
	} {
		e := lookup(t, tc.method, tc.path)
		for _, p := range []struct {
			prof *Profile
			want bool
		}{{ro, tc.ro}, {ci, tc.ci}, {full, tc.full}} {
			if _, ok := p.prof.Allow(e); ok != p.want {
				t.Errorf("%s allows %v = %v, want %v", p.prof.Name, e, ok, p.want)
			}
		}
	}
}

func TestCompile(t *testing.T) {
	p, err := Compile("dash", []string{"read-only"}, []string{"GET /containers/{id}/top"}, false)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := p.Allow(lookup(t, "GET", "/containers/c1/top")); !ok || r.String() != "GET /containers/{id}/top" {
		t.Errorf("extra rule not applied: %v %v", r, ok)
	}
	if _, err := Compile("x", []string{"admin"}, nil, false); err == nil || !strings.Contains(err.Error(), "unknown preset") {
		t.Errorf("unknown preset: %v", err)
	}
	if _, err := Compile("x", nil, []string{"GET /containers/{id}/shell"}, false); err == nil || !strings.Contains(err.Error(), "names no endpoint") {
		t.Errorf("unknown endpoint: %v", err)
	}
	empty, err := Compile("nothing", nil, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := empty.Allow(lookup(t, "GET", "/_ping")); ok {
		t.Error("an empty profile allows something")
	}
}
