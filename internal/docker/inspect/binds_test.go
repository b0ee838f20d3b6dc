package inspect

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// The layout of the bind rules: ro is read-only allowed, rw is writable as a
// whole, and containers may have planted a symlink to / in rw.
func bindLayout(t *testing.T) (in *Inspector, ro, rw string) {
	t.Helper()
	dir := t.TempDir()
	ro, rw = filepath.Join(dir, "ro"), filepath.Join(dir, "rw")
	for _, d := range []string{ro, rw, filepath.Join(ro, "sub"), filepath.Join(rw, "sub")} {
		os.Mkdir(d, 0o755)
	}
	os.Symlink("/", filepath.Join(rw, "planted"))
	os.Symlink(rw, filepath.Join(ro, "to-rw"))
	a, err := NewAllowlist([]string{ro}, []string{rw})
	if err != nil {
		t.Fatal(err)
	}
	return New(a, 0), ro, rw
}

func TestBindRules(t *testing.T) {
	in, ro, rw := bindLayout(t)
	create := endpoint(t, "POST", "/containers/create")
	for body, rule := range map[string]string{
		`{"HostConfig":{"Binds":["` + ro + `:/r:ro"]}}`:                                                   "",
		`{"HostConfig":{"Binds":["` + ro + `/sub:/r:ro,Z"]}}`:                                             "",
		`{"HostConfig":{"Binds":["` + rw + `:/w"]}}`:                                                      "",
		`{"HostConfig":{"Binds":["` + rw + `:/w:ro"]}}`:                                                   "",
		`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + ro + `","Target":"/r","ReadOnly":true}]}}`: "",
		`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + rw + `","Target":"/w"}]}}`:                 "",
		// read-write binds of read-only directories
		`{"HostConfig":{"Binds":["` + ro + `:/r"]}}`:                                                                                                  "bind-allowlist",
		`{"HostConfig":{"Binds":["` + ro + `/sub:/r:rw"]}}`:                                                                                           "bind-allowlist",
		`{"HostConfig":{"Binds":["` + ro + `:/r:RO"]}}`:                                                                                               "bind-allowlist",
		`{"HostConfig":{"Binds":["` + ro + `:/r:ro,rw"]}}`:                                                                                            "bind-allowlist",
		`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + ro + `","Target":"/r"}]}}`:                                                             "bind-allowlist",
		`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + ro + `","Target":"/r","ReadOnly":"true"}]}}`:                                           "bind-allowlist",
		`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + ro + `","Target":"/r","ReadOnly":true,"BindOptions":{"ReadOnlyNonRecursive":true}}]}}`: "bind-allowlist",
		`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + ro + `/new","Target":"/r","ReadOnly":true,"BindOptions":{"CreateMountpoint":true}}]}}`: "bind-allowlist",
		// missing sources: dockerd would create them at start, through
		// whatever a container planted by then
		`{"HostConfig":{"Binds":["` + ro + `/missing:/r:ro"]}}`:                                                   "bind-allowlist",
		`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + ro + `/missing","Target":"/r","ReadOnly":true}]}}`: "bind-allowlist",
		// beneath a writable directory, symlink or not, as given or resolved
		`{"HostConfig":{"Binds":["` + rw + `/sub:/w"]}}`:          "bind-allowlist",
		`{"HostConfig":{"Binds":["` + rw + `/sub:/w:ro"]}}`:       "bind-allowlist",
		`{"HostConfig":{"Binds":["` + rw + `/planted:/w:ro"]}}`:   "bind-allowlist",
		`{"HostConfig":{"Binds":["` + ro + `/to-rw/sub:/w:ro"]}}`: "bind-allowlist",
	} {
		v := in.Check(context.Background(), Request{Endpoint: create, Body: []byte(body)})
		if got := rule; (v == nil) != (got == "") || (v != nil && v.Rule != rule) {
			t.Errorf("%s: got %v, want rule %q", body, v, rule)
		}
	}
}

func TestAllowlistLayout(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "a", "b")
	os.MkdirAll(b, 0o755)
	if _, err := NewAllowlist(nil, []string{a, b}); err == nil {
		t.Error("a writable directory beneath another was accepted")
	}
	if _, err := NewAllowlist([]string{b}, []string{a}); err == nil {
		t.Error("a read-only directory inside a writable one was accepted")
	}
	if _, err := NewAllowlist([]string{a}, []string{a}); err == nil {
		t.Error("a directory both read-only and writable was accepted")
	}
	if _, err := NewAllowlist([]string{a}, []string{b}); err != nil {
		t.Errorf("a writable directory inside a read-only one: %v", err)
	}
}

// On start, restart and unpause the binds of the container are checked
// again as they are now; docker cp into a container with binds is refused.
func TestContainerBindsRechecked(t *testing.T) {
	in, ro, rw := bindLayout(t)
	containers := map[string][]Mount{
		"good":    {{Type: "bind", Source: ro + "/sub"}, {Type: "bind", Source: rw, RW: true}, {Type: "volume", Source: "/var/lib/docker/volumes/v/_data", RW: true}},
		"swapped": {{Type: "bind", Source: rw + "/planted"}},
		"rw-ro":   {{Type: "bind", Source: ro, RW: true}},
		"outside": {{Type: "bind", Source: "/", RW: true}},
		"gone":    {{Type: "bind", Source: ro + "/missing"}},
		"volume":  {{Type: "volume", Source: "/var/lib/docker/volumes/v/_data", RW: true}},
	}
	in.WithContainerLookup(func(_ context.Context, id string) ([]Mount, bool, error) {
		m, ok := containers[id]
		return m, ok, nil
	})
	for _, tc := range []struct{ method, path, rule string }{
		{"POST", "/containers/good/start", ""},
		{"POST", "/containers/good/restart", ""},
		{"POST", "/containers/good/unpause", ""},
		{"POST", "/containers/unknown/start", ""},
		{"POST", "/containers/swapped/start", "bind-allowlist"},
		{"POST", "/containers/swapped/restart", "bind-allowlist"},
		{"POST", "/containers/swapped/unpause", "bind-allowlist"},
		{"POST", "/containers/rw-ro/start", "bind-allowlist"},
		{"POST", "/containers/outside/start", "bind-allowlist"},
		{"POST", "/containers/gone/restart", "bind-allowlist"},
		{"PUT", "/containers/volume/archive", ""},
		{"PUT", "/containers/good/archive", "no-copy-into-binds"},
		{"PUT", "/containers/swapped/archive", "no-copy-into-binds"},
	} {
		e := endpoint(t, tc.method, tc.path)
		v := in.Check(context.Background(), Request{Endpoint: e, Path: tc.path})
		if (v == nil) != (tc.rule == "") || (v != nil && v.Rule != tc.rule) {
			t.Errorf("%s %s: got %v, want rule %q", tc.method, tc.path, v, tc.rule)
		}
	}
}
