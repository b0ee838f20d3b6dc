// Package rules holds the allow rules of gatehouse docker: a rule is a method
// and an endpoint pattern, a profile is a named list of rules, and the
// presets are the profiles gatehouse ships. Rules are checked against the
// Docker Engine API's endpoint table when they are compiled, so a rule that
// names no endpoint is a configuration error rather than a silent no-op.
package rules

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
)

// A Rule allows the endpoints it matches.
type Rule struct {
	Method string // an HTTP method, or "*" for any
	Path   string // an endpoint template, or a prefix ending in /** ("/**" is every endpoint)
}

func (r Rule) String() string { return r.Method + " " + r.Path }

// Parse reads a rule written as "METHOD /path/template", e.g.
// "GET /containers/{id}/json", "POST /containers/**" or "* /**". Parameter
// names are free ({id} and {name} are the same), but the endpoint must exist.
func Parse(s string) (Rule, error) {
	method, path, ok := strings.Cut(strings.TrimSpace(s), " ")
	path = strings.TrimSpace(path)
	if !ok || method == "" || path == "" {
		return Rule{}, fmt.Errorf("rule %q is not \"METHOD /path\"", s)
	}
	r := Rule{Method: method, Path: path}
	switch method {
	case "*", "GET", "HEAD", "POST", "PUT", "DELETE":
	default:
		return Rule{}, fmt.Errorf("rule %q: method %q is not GET, HEAD, POST, PUT, DELETE or *", s, method)
	}
	if !strings.HasPrefix(path, "/") {
		return Rule{}, fmt.Errorf("rule %q: path must start with /", s)
	}
	if strings.Contains(strings.TrimSuffix(path, "/**"), "*") {
		return Rule{}, fmt.Errorf("rule %q: * may only end a path, as /**", s)
	}
	for _, e := range api.Endpoints() {
		if r.Matches(e) {
			return r, nil
		}
	}
	return Rule{}, fmt.Errorf("rule %q names no endpoint of the Docker Engine API %s (gatehouse docker --list-endpoints prints them)", s, api.SpecVersion)
}

// Matches reports whether the rule allows endpoint e.
func (r Rule) Matches(e api.Endpoint) bool {
	if r.Method != "*" && r.Method != e.Method {
		return false
	}
	if prefix, ok := strings.CutSuffix(r.Path, "/**"); ok {
		if prefix == "" {
			return true
		}
		p, t := api.Shape(prefix), api.Shape(e.Path)
		return t == p || strings.HasPrefix(t, p+"/")
	}
	return api.Shape(r.Path) == api.Shape(e.Path)
}

// A Profile is what one client may do.
type Profile struct {
	Name  string
	Rules []Rule
	// OwnerScoped confines the profile's clients to the containers,
	// networks, volumes and execs they created (an owner label that the
	// docker guard sets and filters on).
	OwnerScoped bool
	// Unrestricted skips the body rules (privileged containers, host
	// mounts, ...): a client with it is root on the Docker host.
	Unrestricted bool
	// Registries are the registry hosts dockerd may reach for this client
	// (pulls, pushes, logins, FROM in builds); none means Docker Hub only.
	Registries []string
	// LogDrivers are the log drivers its containers may use; none means
	// json-file and local.
	LogDrivers []string
}

// Allow returns the first rule of p that allows e.
func (p *Profile) Allow(e api.Endpoint) (Rule, bool) {
	for _, r := range p.Rules {
		if r.Matches(e) {
			return r, true
		}
	}
	return Rule{}, false
}

// Compile builds a profile from presets and extra allow rules.
func Compile(name string, presets, allow []string, unrestricted bool) (*Profile, error) {
	p := &Profile{Name: name, Unrestricted: unrestricted}
	for _, pre := range presets {
		rules, ok := presetRules[pre]
		if !ok {
			return nil, fmt.Errorf("unknown preset %q: want one of %s", pre, strings.Join(PresetNames(), ", "))
		}
		for _, s := range rules {
			r, err := Parse(s)
			if err != nil {
				panic("rules: preset " + pre + ": " + err.Error()) // a test checks every preset
			}
			p.Rules = append(p.Rules, r)
		}
	}
	for _, s := range allow {
		r, err := Parse(s)
		if err != nil {
			return nil, err
		}
		p.Rules = append(p.Rules, r)
	}
	return p, nil
}

// Preset returns the shipped profile of that name.
func Preset(name string) (*Profile, bool) {
	if _, ok := presetRules[name]; !ok {
		return nil, false
	}
	p, err := Compile(name, []string{name}, nil, false)
	return p, err == nil
}

// PresetNames lists the presets, sorted.
func PresetNames() []string {
	var names []string
	for n := range presetRules {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// PresetRules returns the rules of a preset as text, for documentation.
func PresetRules(name string) []string { return slices.Clone(presetRules[name]) }

// readOnly is what a dashboard or monitoring agent needs. It leaves out the
// GETs that are not read-only in effect: attach/ws (writes to stdin),
// archive and export (read any file of a container) and top and changes
// (process arguments and file names). Container inspect is in, though it
// shows a container's environment: see docs/docker.md.
var readOnly = []string{
	"GET /_ping", "HEAD /_ping", "GET /version", "GET /info", "GET /events", "GET /system/df",
	"GET /containers/json", "GET /containers/{id}/json", "GET /containers/{id}/logs", "GET /containers/{id}/stats",
	"GET /images/json", "GET /images/{name}/json", "GET /images/{name}/history",
	"GET /networks", "GET /networks/{id}",
	"GET /volumes", "GET /volumes/{name}",
}

// ci adds what a CI job does with docker: build, pull, tag, push, and run
// containers and exec into them. Creating networks, plugins, swarm and
// committing or loading images are not in it.
var ci = append(slices.Clone(readOnly),
	"POST /auth", "POST /build", "POST /images/create", "POST /images/{name}/tag", "POST /images/{name}/push", "DELETE /images/{name}",
	"POST /containers/create", "POST /containers/{id}/start", "POST /containers/{id}/stop", "POST /containers/{id}/kill",
	"POST /containers/{id}/restart", "POST /containers/{id}/wait", "DELETE /containers/{id}",
	"POST /containers/{id}/attach", "POST /containers/{id}/resize",
	"GET /containers/{id}/archive", "HEAD /containers/{id}/archive", "PUT /containers/{id}/archive",
	"POST /containers/{id}/exec", "POST /exec/{id}/start", "POST /exec/{id}/resize", "GET /exec/{id}/json",
	"POST /volumes/create", "DELETE /volumes/{name}",
)

var presetRules = map[string][]string{
	"read-only": readOnly,
	"ci":        ci,
	"full":      {"* /**"},
}
