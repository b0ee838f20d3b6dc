package goproxy

import (
	"strings"
	"testing"

	"golang.org/x/mod/module"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

func TestParse(t *testing.T) {
	tests := []struct {
		path string
		want Request
	}{
		{"/golang.org/x/mod/@v/list", Request{Module: "golang.org/x/mod", Kind: KindList}},
		{"/golang.org/x/mod/@latest", Request{Module: "golang.org/x/mod", Kind: KindLatest}},
		{"/golang.org/x/mod/@v/v0.1.0.info", Request{Module: "golang.org/x/mod", Version: "v0.1.0", Kind: KindInfo}},
		{"/golang.org/x/mod/@v/v0.1.0.mod", Request{Module: "golang.org/x/mod", Version: "v0.1.0", Kind: KindMod}},
		{"/golang.org/x/mod/@v/v0.1.0.zip", Request{Module: "golang.org/x/mod", Version: "v0.1.0", Kind: KindZip}},
		{"/github.com/!burnt!sushi/toml/@v/v1.6.0.zip", Request{Module: "github.com/BurntSushi/toml", Version: "v1.6.0", Kind: KindZip}},
		{"/example.com/m/v2/@v/v2.0.0-20200101000000-abcdefabcdef.info", Request{Module: "example.com/m/v2", Version: "v2.0.0-20200101000000-abcdefabcdef", Kind: KindInfo}},
		{"/example.com/m/@v/v2.0.0+incompatible.mod", Request{Module: "example.com/m", Version: "v2.0.0+incompatible", Kind: KindMod}},
		// As the go command sends them: its proxy client percent-encodes '!'.
		{"/github.com/%21burnt%21sushi/toml/@v/list", Request{Module: "github.com/BurntSushi/toml", Kind: KindList}},
		{"/example.com/m/@v/v1.0.0-%21r%21c1.zip", Request{Module: "example.com/m", Version: "v1.0.0-RC1", Kind: KindZip}},
		{"/example.com/m/@v/v1.0.0-!r!c1.zip", Request{Module: "example.com/m", Version: "v1.0.0-RC1", Kind: KindZip}},
		{"/gopkg.in/yaml.v3/@v/v3.0.1.mod", Request{Module: "gopkg.in/yaml.v3", Version: "v3.0.1", Kind: KindMod}},
	}
	for _, tt := range tests {
		got, err := Parse(tt.path)
		if err != nil || got.Module != tt.want.Module || got.Version != tt.want.Version || got.Kind != tt.want.Kind {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", tt.path, got, err, tt.want)
		}
		if err == nil && got.Version != "" && "/"+got.StorageName() != strings.ReplaceAll(tt.path, "%21", "!") {
			t.Errorf("Parse(%q).StorageName() = %q", tt.path, got.StorageName())
		}
	}
}

func TestParseRefuses(t *testing.T) {
	for _, p := range []string{
		"",
		"golang.org/x/mod/@v/list",                 // no leading slash
		"/",                                        // not protocol
		"/golang.org/x/mod",                        // not protocol
		"/golang.org/x/mod/@v/",                    // no file
		"/golang.org/x/mod/@v/v1.0.0.tar",          // unknown kind
		"/golang.org/x/mod/@v/master.info",         // not a semantic version
		"/golang.org/x/mod/@v/v1.0.info",           // not canonical
		"/golang.org/x/mod/@v/v1.0.0+meta.zip",     // build metadata
		"/golang.org/x/mod/@v/-x.info",             // flag-like
		"/golang.org/x/mod/@v/--upload-pack=x.zip", // flag-like
		"/-x/@v/list",                              // flag-like path
		"/github.com/BurntSushi/toml/@v/list",      // uppercase must be escaped
		"/golang.org/x/../../etc/passwd/@v/list",   // traversal
		"/golang.org/x/./mod/@v/list",              // dot element
		"/golang.org//x/mod/@v/list",               // empty element
		"/golang.org/x/mod/@v/../../../etc/passwd.zip",
		"/golang.org%2fx%2fmod/@v/list",          // encoded slash
		"/golang.org/x/mod/@v/v1.0.0%2ezip",      // encoding
		"/golang.org/x/mod\x00/@v/list",          // NUL
		"/golang.org/x/mod/@v/v1.0.0.zip\x00",    // NUL
		"/golang.org/x/mod/@v/v1.0.0\\..\\x.zip", // backslash
		"/example.com/m/v2/@v/v1.0.0.zip",        // major version mismatch
		"/example.com/m/@v/v2.0.0.zip",           // needs /v2 or +incompatible
		"/" + strings.Repeat("a/", 600) + "@v/list",
		"/example.com/m/@v/v1.0.0-!r!c1!.zip", // bad escape
		"/example.com/m/@v/list/x",
		"/example.com/m /@v/list",
	} {
		r, err := Parse(p)
		if err == nil {
			t.Errorf("Parse(%q) = %+v, want error", p, r)
			continue
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("Parse(%q) error has more than one line: %q", p, err)
		}
	}
}

// FuzzParse checks that Parse never panics, and that whatever it accepts
// names a safe storage object that escapes back to the same path.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"/golang.org/x/mod/@v/list", "/golang.org/x/mod/@latest", "/golang.org/x/mod/@v/v0.1.0.zip",
		"/github.com/!burnt!sushi/toml/@v/v1.6.0.info", "/example.com/m/@v/v2.0.0+incompatible.mod",
		"/a/../b/@v/list", "/x%2fy/@v/list", "/-x/@v/v1.0.0.zip", "/gopkg.in/yaml.v3/@v/v3.0.1.mod",
		"/example.com/m/@v/v1.0.0-!r!c1.zip", "/github.com/%21burnt%21sushi/toml/@v/list",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		r, err := Parse(p)
		if err != nil {
			return
		}
		if strings.HasPrefix(r.Module, "-") || strings.HasPrefix(r.Version, "-") {
			t.Fatalf("accepted flag-like %+v", r)
		}
		var name string
		switch r.Kind {
		case KindList, KindLatest:
			name = ListName(r.Module)
		default:
			name = r.StorageName()
		}
		if err := storage.CheckName(name); err != nil {
			t.Fatalf("Parse(%q) = %+v gives unsafe storage name %q: %v", p, r, name, err)
		}
		p = strings.ReplaceAll(p, "%21", "!") // the go command's escape of '!'
		esc, _ := module.EscapePath(r.Module)
		if !strings.HasPrefix(p, "/"+esc+"/@") {
			t.Fatalf("Parse(%q) = %+v does not round-trip to %q", p, r, name)
		}
		// The storage name taken from the request path is the canonical one.
		if r.Version != "" {
			if want := ArtifactName(r.Module, r.Version, r.Kind); name != want || "/"+name != p {
				t.Fatalf("Parse(%q): storage name %q, canonical %q", p, name, want)
			}
			if err := module.Check(r.Module, r.Version); err != nil {
				t.Fatalf("Parse(%q) accepted %+v: %v", p, r, err)
			}
		}
	})
}

// The fast path of ArtifactName agrees with module's escaping.
func TestArtifactNameMatchesEscape(t *testing.T) {
	for _, mv := range [][2]string{
		{"golang.org/x/mod", "v0.1.0"}, {"github.com/BurntSushi/toml", "v1.6.0"},
		{"example.com/m", "v1.0.0-RC1"}, {"example.com/m", "v2.0.0+incompatible"},
		{"gopkg.in/yaml.v3", "v3.0.1"}, {"example.com/a_b~c", "v0.0.0-20200101000000-abcdefabcdef"},
	} {
		em, _ := module.EscapePath(mv[0])
		ev, _ := module.EscapeVersion(mv[1])
		if got, want := ArtifactName(mv[0], mv[1], KindZip), em+"/@v/"+ev+".zip"; got != want {
			t.Errorf("ArtifactName(%q, %q) = %q, want %q", mv[0], mv[1], got, want)
		}
	}
}

// plain's shortcut gives what unescaping gives, for every string it takes.
func FuzzPlainIsUnescaped(f *testing.F) {
	for _, s := range []string{"golang.org/x/mod", "github.com/!burnt!sushi/toml", "v1.0.0-!r!c1", "Upper/case", "v1.2.3", "a!"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p := plain(s)
		if p == "" {
			return
		}
		if p != s {
			t.Fatalf("plain(%q) = %q", s, p)
		}
		if u, err := module.UnescapePath(s); err == nil && u != s {
			t.Fatalf("UnescapePath(%q) = %q, plain took it as is", s, u)
		}
		if u, err := module.UnescapeVersion(s); err == nil && u != s {
			t.Fatalf("UnescapeVersion(%q) = %q, plain took it as is", s, u)
		}
	})
}
