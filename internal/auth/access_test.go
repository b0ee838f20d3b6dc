package auth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

func TestMatchModule(t *testing.T) {
	tests := []struct {
		p, m string
		want bool
	}{
		{"corp.example.com/*", "corp.example.com/lib", true},
		{"corp.example.com/*", "corp.example.com/lib/v2", false},
		{"corp.example.com/*", "corp.example.com", false},
		{"github.com/corp/**", "github.com/corp", true},
		{"github.com/corp/**", "github.com/corp/a/b/c", true},
		{"github.com/corp/**", "github.com/corpx/a", false},
		{"github.com/corp/**", "github.com/cor", false},
		{"**", "golang.org/x/mod", true},
		{"example.com/hello", "example.com/hello", true},
		{"example.com/hello", "example.com/hello/v2", false},
		{"example.com/team-*/**", "example.com/team-a/x", true},
		{"*.corp.example/**", "git.corp.example/x", true},
	}
	for _, tt := range tests {
		if err := CheckModulePattern(tt.p); err != nil {
			t.Errorf("CheckModulePattern(%q): %v", tt.p, err)
		}
		if got := MatchModule(tt.p, tt.m); got != tt.want {
			t.Errorf("MatchModule(%q, %q) = %v", tt.p, tt.m, got)
		}
	}
	for _, bad := range []string{"", "/x", "x/", "a//b", "a/**/b", "a/b**", "a/[b"} {
		if CheckModulePattern(bad) == nil {
			t.Errorf("CheckModulePattern(%q) accepted", bad)
		}
	}
}

func TestAccessGate(t *testing.T) {
	a, err := NewAccess([]Rule{
		{Modules: []string{"corp.example.com/secret/**"}, Groups: []string{"security"}},
		{Modules: []string{"corp.example.com/**"}, Groups: []string{"build", "dev"}},
		{Modules: []string{"**"}, Groups: []string{"*"}},
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	build := &Identity{Name: "ci", Method: "token", Groups: []string{"build"}}
	sec := &Identity{Name: "sec", Method: "token", Groups: []string{"security"}}
	other := &Identity{Name: "web", Method: "token", Groups: []string{"web"}}
	tests := []struct {
		id   *Identity
		mod  string
		ok   bool
		rule string
	}{
		{build, "corp.example.com/lib", true, "access#2"},
		{build, "corp.example.com/secret/keys", false, "access#1"},
		{sec, "corp.example.com/secret/keys", true, "access#1"},
		{sec, "corp.example.com/lib", false, "access#2"},
		{other, "corp.example.com/lib", false, "access#2"},
		{other, "golang.org/x/mod", true, "access#3"},
		{Anonymous, "golang.org/x/mod", true, "access#3"},
		{nil, "golang.org/x/mod", false, "access#3"},
	}
	for _, tt := range tests {
		for _, kind := range []goproxy.Kind{goproxy.KindList, goproxy.KindLatest, goproxy.KindZip} {
			e := &reqlog.Entry{}
			ctx := reqlog.With(WithIdentity(context.Background(), tt.id), e)
			req := goproxy.Request{Module: tt.mod, Kind: kind}
			if kind == goproxy.KindZip {
				req.Version = "v1.0.0"
			}
			err := a.Admit(ctx, req)
			if (err == nil) != tt.ok || e.Rule != tt.rule {
				t.Errorf("%v %s %s: err=%v rule=%q", tt.id, tt.mod, kind, err, e.Rule)
				continue
			}
			if err != nil {
				var hs interface{ HTTPStatus() int }
				if !errors.As(err, &hs) || hs.HTTPStatus() != http.StatusNotFound || err.Error() != "not found: "+req.String() {
					t.Errorf("refusal %v does not look like a missing module", err)
				}
				if e.Decision != "deny" || e.Reason != "no access to module" {
					t.Errorf("entry %+v", e)
				}
				vs, _ := a.FilterVersions(ctx, tt.mod, []string{"v1.0.0"})
				if len(vs) != 0 {
					t.Errorf("FilterVersions revealed %v", vs)
				}
			}
		}
	}
	// No rule matches: nobody sees it.
	strict, _ := NewAccess([]Rule{{Modules: []string{"corp.example.com/**"}, Groups: []string{"*"}}}, http.StatusForbidden)
	err = strict.Admit(WithIdentity(context.Background(), build), goproxy.Request{Module: "golang.org/x/mod", Kind: goproxy.KindList})
	var hs interface{ HTTPStatus() int }
	if !errors.As(err, &hs) || hs.HTTPStatus() != 403 {
		t.Errorf("unmatched module with 403 configured: %v", err)
	}
	if _, err := NewAccess(nil, 500); err == nil {
		t.Error("deny status 500 accepted")
	}
}

func TestAccessSumDB(t *testing.T) {
	a, _ := NewAccess([]Rule{
		{Modules: []string{"corp.example.com/**"}, Groups: []string{"build"}},
		{Modules: []string{"**"}, Groups: []string{"*"}},
	}, 0)
	// Lookups pass every gate in the server (internal/server's
	// TestGatesApplyToLookups; integration TestAccessControlWithGoCommand).
	h := a.SumDB(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("db")) }))
	build := &Identity{Name: "ci", Groups: []string{"build"}}
	web := &Identity{Name: "web", Groups: []string{"web"}}
	for _, tt := range []struct {
		id     *Identity
		path   string
		status int
	}{
		{web, "/sumdb/sum.golang.org/lookup/golang.org/x/mod@v0.1.0", 200},
		{build, "/sumdb/sum.corp.example/tile/8/data/000", 404},
		{build, "/sumdb/sum.corp.example/tile/8/0/000", 200},
		{web, "/sumdb/sum.corp.example/latest", 200},
		{web, "/sumdb/sum.corp.example/supported", 200},
		{web, "/example.com/m/@v/list", 200},
	} {
		e := &reqlog.Entry{}
		r := httptest.NewRequest("GET", tt.path, nil)
		r = r.WithContext(reqlog.With(WithIdentity(r.Context(), tt.id), e))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		want := tt.status
		if w.Code != want {
			t.Errorf("%s as %s: %d, want %d (%q)", tt.path, tt.id.Name, w.Code, want, w.Body.String())
		}
		if want == 404 && (e.Decision != "deny" || strings.Contains(w.Body.String(), "db")) {
			t.Errorf("%s: entry %+v body %q", tt.path, e, w.Body.String())
		}
	}
}

// A VCS-qualified path (corp.example.com/secret.git) names the same
// repository as corp.example.com/secret for the go command, and so does
// corp.example.com/Secret on a host that ignores case: the rule for the
// plain path must decide them too, or their list and @latest reveal the
// hidden repository's tags to a caller of a broader rule.
func TestAccessVCSQualifiedPath(t *testing.T) {
	a, _ := NewAccess([]Rule{
		{Modules: []string{"corp.example.com/secret/**"}, Groups: []string{"security"}},
		{Modules: []string{"corp.example.com/**"}, Groups: []string{"dev"}},
	}, 0)
	dev := &Identity{Name: "dev", Groups: []string{"dev"}}
	sec := &Identity{Name: "sec", Groups: []string{"dev", "security"}}
	for _, tt := range []struct {
		id  *Identity
		mod string
		ok  bool
	}{
		{dev, "corp.example.com/secret.git", false},
		{dev, "corp.example.com/secret.git/v2", false},
		// cmd/go fetches the repository secret.git for secret.git.git,
		// which git servers serve as secret.
		{dev, "corp.example.com/secret.git.git", false},
		{dev, "corp.example.com/secret.git.git.git/v2", false},
		{dev, "corp.example.com/Secret.GIT.git", false},
		{sec, "corp.example.com/secret.git.git", true},
		{dev, "corp.example.com/secret.hg/sub", false},
		{dev, "corp.example.com/lib.git", true},
		{dev, "corp.example.com/secret.gitx", true},
		{sec, "corp.example.com/secret.git", true},
		{dev, "corp.example.com/Secret", false},
		{dev, "corp.example.com/SECRET.git/v2", false},
		{dev, "corp.example.com/Lib", true},
		{sec, "corp.example.com/Secret", true},
	} {
		for _, kind := range []goproxy.Kind{goproxy.KindList, goproxy.KindLatest} {
			ctx := reqlog.With(WithIdentity(context.Background(), tt.id), &reqlog.Entry{})
			err := a.Admit(ctx, goproxy.Request{Module: tt.mod, Kind: kind})
			if (err == nil) != tt.ok {
				t.Errorf("%s %s %s: %v, want allowed %v", tt.id.Name, tt.mod, kind, err, tt.ok)
			}
		}
		vs, _ := a.FilterVersions(WithIdentity(context.Background(), tt.id), tt.mod, []string{"v1.0.0"})
		if (len(vs) == 1) != tt.ok {
			t.Errorf("FilterVersions %s %s = %v", tt.id.Name, tt.mod, vs)
		}
	}
	// A spelling no rule covers does not count: rules may name the
	// qualified or mixed-case path alone.
	b, _ := NewAccess([]Rule{{Modules: []string{"gitlab.corp.example/team/lib.git", "github.com/BurntSushi/**"}, Groups: []string{"dev"}}}, 0)
	for _, mod := range []string{"gitlab.corp.example/team/lib.git", "github.com/BurntSushi/toml"} {
		if ok, _ := b.Allowed(dev, mod); !ok {
			t.Errorf("%s refused under a rule that names it", mod)
		}
	}
}

// A rule written with upper case (as GitHub shows an owner's name) decides
// the lower-case spelling of the same repository too: a broader rule after
// it must not grant it.
func TestAccessRuleInOtherCase(t *testing.T) {
	a, _ := NewAccess([]Rule{
		{Modules: []string{"github.com/BigCorp/secret", "git.corp.example/Team/*"}, Groups: []string{"security"}},
		{Modules: []string{"**"}, Groups: []string{"*"}},
	}, 0)
	dev := &Identity{Name: "dev", Groups: []string{"dev"}}
	sec := &Identity{Name: "sec", Groups: []string{"security"}}
	for _, tt := range []struct {
		id  *Identity
		mod string
		ok  bool
	}{
		{dev, "github.com/BigCorp/secret", false},
		{dev, "github.com/bigcorp/secret", false},
		{dev, "github.com/bigcorp/secret.git", false},
		{dev, "github.com/BIGCORP/Secret/v2", true}, // another module path: v2 is not secret's
		{dev, "git.corp.example/team/lib", false},
		{dev, "git.corp.example/TEAM/lib.git", false},
		{dev, "github.com/bigcorp/public", true},
		{sec, "github.com/bigcorp/secret", true},
		{sec, "git.corp.example/team/lib", true},
	} {
		if ok, _ := a.Allowed(tt.id, tt.mod); ok != tt.ok {
			t.Errorf("%s %s: allowed %v, want %v", tt.id.Name, tt.mod, ok, tt.ok)
		}
	}
}
