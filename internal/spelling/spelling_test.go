package spelling

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

func TestOthers(t *testing.T) {
	for _, tt := range []struct {
		mod  string
		want []string
	}{
		{"git.corp/lib", nil},
		{"git.corp/lib.git", []string{"git.corp/lib"}},
		{"git.corp/lib.git.git", []string{"git.corp/lib.git", "git.corp/lib"}},
		{"git.corp/lib.git.git.git/v2", []string{"git.corp/lib.git.git/v2", "git.corp/lib.git/v2", "git.corp/lib/v2"}},
		{"git.corp/team/lib.hg.git/sub", []string{"git.corp/team/lib.hg/sub", "git.corp/team/lib/sub"}},
		// Only the element that names the repository: later ones are
		// directories in it.
		{"git.corp/a.git/b.git", []string{"git.corp/a/b.git"}},
		{"git.corp/Lib", []string{"git.corp/lib"}},
		{"git.corp/Lib.git", []string{"git.corp/Lib", "git.corp/lib.git", "git.corp/lib"}},
		// Lower-cased, .GIT becomes a suffix the host strips.
		{"git.corp/lib.GIT", []string{"git.corp/lib.git", "git.corp/lib"}},
		{"git.corp/lib.gitx", nil},
		{"git.corp/.git", nil},
		{"git.corp/x.github.io", nil},
	} {
		if got := Others(tt.mod); !slices.Equal(got, tt.want) {
			t.Errorf("Others(%q) = %q, want %q", tt.mod, got, tt.want)
		}
	}
}

func TestPlainAndAlias(t *testing.T) {
	for _, tt := range []struct {
		mod          string
		plain, alias bool
	}{
		{"git.corp/lib", true, false},
		{"git.corp/lib/v2", true, false},
		{"git.corp/lib.git", false, false},
		{"git.corp/lib.git/v2", false, false},
		{"git.corp/lib.git.git", false, true},
		{"git.corp/lib.hg.git", false, true},
		{"git.corp/lib.git.git/v2", false, true},
		{"git.corp/a.git/b.git.git", false, false}, // b.git.git is a directory of a
		{"git.corp/lib.gitx", true, false},
	} {
		if got := Plain(tt.mod); got != tt.plain {
			t.Errorf("Plain(%q) = %v", tt.mod, got)
		}
		if got := Alias(tt.mod); got != tt.alias {
			t.Errorf("Alias(%q) = %v", tt.mod, got)
		}
	}
}

// The gate refuses aliases of private paths with exactly the words of a
// module that does not exist, and leaves everything else alone.
func TestGate(t *testing.T) {
	g := Gate{Private: func(mod string) bool { return mod != "example.com/pub.git.git" }}
	for _, tt := range []struct {
		req  goproxy.Request
		want string
	}{
		{goproxy.Request{Module: "git.corp/lib.git.git", Kind: goproxy.KindList}, "not found: git.corp/lib.git.git"},
		{goproxy.Request{Module: "git.corp/lib.git.git", Version: "v1.0.0", Kind: goproxy.KindZip}, "not found: git.corp/lib.git.git@v1.0.0"},
		{goproxy.Request{Module: "git.corp/lib.git", Kind: goproxy.KindLatest}, ""},
		{goproxy.Request{Module: "git.corp/lib", Kind: goproxy.KindList}, ""},
		{goproxy.Request{Module: "example.com/pub.git.git", Kind: goproxy.KindList}, ""},
	} {
		e := &reqlog.Entry{}
		err := g.Admit(reqlog.With(context.Background(), e), tt.req)
		var hs interface{ HTTPStatus() int }
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%v: %v, want admitted", tt.req, err)
		case tt.want != "" && (err == nil || err.Error() != tt.want || !errors.As(err, &hs) || hs.HTTPStatus() != 404):
			t.Errorf("%v: %v, want 404 %q", tt.req, err, tt.want)
		case tt.want != "" && e.Decision != "deny":
			t.Errorf("%v: audit decision %q", tt.req, e.Decision)
		}
	}
}

// A private pattern naming one repository covers every spelling of it.
func TestMatchPrefixPatterns(t *testing.T) {
	for _, tt := range []struct {
		patterns, mod string
		want          bool
	}{
		{"git.corp/lib", "git.corp/lib", true},
		{"git.corp/lib", "git.corp/lib/sub", true},
		{"git.corp/lib", "git.corp/lib.git", true},
		{"git.corp/lib", "git.corp/lib.git.git/v2", true},
		{"git.corp/lib", "git.corp/Lib", true},
		{"git.corp/lib", "git.corp/LIB.GIT/sub", true},
		{"github.com/Corp/*", "github.com/corp/x", true},
		{"other.example,git.corp/lib", "git.corp/lib.hg", true},
		{"git.corp/lib", "git.corp/library", false},
		{"git.corp/lib", "git.corp/lib.gitx", false},
		{"git.corp/lib", "git.corp/other.git", false},
		{"", "git.corp/lib", false},
	} {
		if got := MatchPrefixPatterns(tt.patterns, tt.mod); got != tt.want {
			t.Errorf("MatchPrefixPatterns(%q, %q) = %v, want %v", tt.patterns, tt.mod, got, tt.want)
		}
	}
}
