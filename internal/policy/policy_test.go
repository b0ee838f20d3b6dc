package policy

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

// mapFacts answers from maps; a missing entry is unknown.
type mapFacts struct {
	published map[string]time.Time
	retracted map[string]string   // version → rationale
	aliases   map[string][]string // path@pseudo → tags of its commit
	asked     []string
}

func (f *mapFacts) Aliases(ctx context.Context, mod, v string) ([]string, error) {
	f.asked = append(f.asked, "aliases "+mod+"@"+v)
	if f.aliases == nil {
		return nil, fmt.Errorf("%w: no aliases", ErrUnknown)
	}
	return f.aliases[mod+"@"+v], nil
}

func (f *mapFacts) Published(ctx context.Context, mod, v string) (time.Time, error) {
	f.asked = append(f.asked, "published "+mod+"@"+v)
	t, ok := f.published[mod+"@"+v]
	if !ok {
		return time.Time{}, fmt.Errorf("%w: no time for %s@%s", ErrUnknown, mod, v)
	}
	return t, nil
}

func (f *mapFacts) Retracted(ctx context.Context, mod, v string) (bool, string, error) {
	f.asked = append(f.asked, "retracted "+mod+"@"+v)
	r, ok := f.retracted[mod+"@"+v]
	return ok, r, nil
}

func mustParse(t *testing.T, src string) *Policy {
	t.Helper()
	dir := t.TempDir()
	copyDir(t, "../vulndb/testdata/db", filepath.Join(dir, "vulndb"))
	name := filepath.Join(dir, "policy.toml")
	if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.Walk(from, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

const enginePolicy = `
default = "allow"
vuln_db = "vulndb"

[[rule]]
name = "incident"
module_versions = ["example.com/lib@v1.1.0"]
action = "deny"
reason = "incident INC-1: compromised release"

[[rule]]
name = "team-a-only"
modules = ["corp.example/team-a"]
groups = ["team-a"]
action = "allow"

[[rule]]
name = "team-a-others"
modules = ["corp.example/team-a"]
action = "deny"
reason = "team-a's modules are for team-a only"

[[rule]]
name = "private-no-cooldown"
modules = ["corp.example"]
action = "allow"

[[rule]]
name = "yaml-range"
modules = ["example.com/yaml"]
versions = ">=1.2.0 <2.0.0 || v3.*"
action = "deny"
reason = "pinned: vulnerable range"

[[rule]]
name = "no-pseudo"
pseudo = true
modules = ["example.com/strict"]
action = "deny"
reason = "pseudo-versions are not allowed for example.com/strict"

[[rule]]
name = "no-incompatible"
incompatible = true
action = "deny"
reason = "+incompatible versions are not allowed"

[[rule]]
name = "vulns"
vulnerable = true
min_severity = "high"
action = "deny"
reason = "known vulnerability"

[[rule]]
name = "retracted"
retracted = true
action = "deny"
reason = "retracted version"

[[rule]]
name = "cool-down"
min_age = "72h"
action = "deny"
reason = "too new: cool-down of 72h"
`

func TestDecide(t *testing.T) {
	p := mustParse(t, enginePolicy)
	now := time.Now()
	facts := &mapFacts{
		published: map[string]time.Time{
			"example.com/lib@v1.0.0":      now.Add(-1000 * time.Hour),
			"example.com/lib@v1.3.0":      now.Add(-100 * time.Hour),
			"example.com/lib@v1.6.0":      now.Add(-2 * time.Hour),
			"example.com/lib@v1.7.0":      now.Add(-2 * time.Hour),
			"example.com/yaml@v1.1.0":     now.Add(-1000 * time.Hour),
			"example.com/yaml@v2.0.0":     now.Add(-1000 * time.Hour),
			"example.com/strict@v1.0.0":   now.Add(-1000 * time.Hour),
			"corp.example/team-a@v1.0.0":  now.Add(-time.Hour),
			"corp.example/tools@v1.0.0":   now.Add(-time.Hour),
			"example.com/other@v1.0.0":    now.Add(-1000 * time.Hour),
			"example.com/yaml@v3.0.0-pre": now.Add(-1000 * time.Hour),
		},
		retracted: map[string]string{"example.com/lib@v1.7.0": "broke the API"},
	}
	teamA := &auth.Identity{Name: "alice", Groups: []string{"team-a"}}
	teamB := &auth.Identity{Name: "bob", Groups: []string{"team-b"}}
	tests := []struct {
		id          *auth.Identity
		mod, v      string
		want        string // action and rule
		wantDetail  string
		wantUnknown bool
	}{
		// v1.0.0 is affected only by a low-severity entry, below min_severity.
		{nil, "example.com/lib", "v1.0.0", "allow default", "", false},
		{nil, "example.com/lib", "v1.1.0", "deny incident", "listed as example.com/lib@v1.1.0", false},
		{nil, "example.com/lib", "v1.2.0", "deny vulns", "GO-2099-0001 (critical)", false},
		{nil, "example.com/lib", "v1.3.0", "allow default", "", false},
		{nil, "example.com/lib", "v1.6.0", "deny cool-down", "min_age is 72h", false},
		{nil, "example.com/lib", "v1.7.0", "deny retracted", "broke the API", false},
		{teamA, "corp.example/team-a", "v1.0.0", "allow team-a-only", "", false},
		{teamB, "corp.example/team-a", "v1.0.0", "deny team-a-others", "", false},
		{nil, "corp.example/team-a/sub", "v1.0.0", "deny team-a-others", "", false},
		{nil, "corp.example/tools", "v1.0.0", "allow private-no-cooldown", "", false},
		{nil, "example.com/yaml", "v1.1.0", "allow default", "", false},
		{nil, "example.com/yaml", "v1.2.0", "deny yaml-range", "", false},
		{nil, "example.com/yaml", "v1.9.9", "deny yaml-range", "", false},
		{nil, "example.com/yaml", "v2.0.0", "allow default", "", false},
		{nil, "example.com/yaml", "v3.4.0", "deny yaml-range", "", false},
		{nil, "example.com/yaml", "v3.0.0-pre", "deny yaml-range", "", false},
		{nil, "example.com/strict", "v0.0.0-20240101000000-abcdefabcdef", "deny no-pseudo", "", false},
		{nil, "example.com/strict", "v1.0.0", "allow default", "", false},
		{nil, "example.com/other", "v4.0.0+incompatible", "deny no-incompatible", "", false},
		{nil, "example.com/other", "v1.0.0", "deny vulns", "GO-2099-0003 (high)", false},
		// No publish time known: the cool-down cannot be decided here.
		{nil, "example.com/nodata", "v1.0.0", "allow default", "", true},
	}
	for _, tt := range tests {
		d, err := p.Decide(context.Background(), facts, tt.id, tt.mod, tt.v)
		if err != nil {
			t.Errorf("%s@%s: %v", tt.mod, tt.v, err)
			continue
		}
		if got := d.Action() + " " + d.Rule; got != tt.want {
			t.Errorf("%s@%s as %v: %s (%s), want %s", tt.mod, tt.v, tt.id, got, d.Text(), tt.want)
		}
		if !strings.Contains(d.Detail, tt.wantDetail) {
			t.Errorf("%s@%s: detail %q lacks %q", tt.mod, tt.v, d.Detail, tt.wantDetail)
		}
		if (len(d.Unknown) > 0) != tt.wantUnknown {
			t.Errorf("%s@%s: unknown = %q", tt.mod, tt.v, d.Unknown)
		}
		if d.Line == 0 && d.Rule != "default" {
			t.Errorf("%s@%s: rule %s has no line", tt.mod, tt.v, d.Rule)
		}
	}
}

// Facts that cost a fetch are asked only when the cheap conditions match.
func TestDecideAsksFactsLazily(t *testing.T) {
	p := mustParse(t, `
[[rule]]
modules = ["corp.example"]
action = "allow"
[[rule]]
versions = "v1.*"
min_age = "1h"
action = "deny"
reason = "too new"
`)
	f := &mapFacts{published: map[string]time.Time{"x.example/m@v1.0.0": time.Now()}}
	for _, mv := range [][2]string{{"corp.example/a", "v1.0.0"}, {"x.example/m", "v2.0.0"}} {
		if _, err := p.Decide(context.Background(), f, nil, mv[0], mv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if len(f.asked) != 0 {
		t.Errorf("facts asked for versions no fact-dependent rule could match: %q", f.asked)
	}
	d, _ := p.Decide(context.Background(), f, nil, "x.example/m", "v1.0.0")
	if d.Allow || len(f.asked) != 1 {
		t.Errorf("decision %+v after asking %q", d, f.asked)
	}
}

func TestDryRun(t *testing.T) {
	p := mustParse(t, `
dry_run = true
default = "deny"
[[rule]]
modules = ["ok.example"]
action = "allow"
[[rule]]
modules = ["bad.example"]
action = "deny"
reason = "bad"
`)
	for mod, want := range map[string]string{"ok.example/x": "allow", "bad.example/x": "would-deny", "other.example/x": "would-deny"} {
		d, _ := p.Decide(context.Background(), &mapFacts{}, nil, mod, "v1.0.0")
		if d.Action() != want || d.Enforced() {
			t.Errorf("%s: %s enforced=%v, want %s and not enforced", mod, d.Action(), d.Enforced(), want)
		}
	}
	// A single rule may be rolled out in dry-run while the rest is enforced.
	p = mustParse(t, `
[[rule]]
name = "trial"
modules = ["a.example"]
action = "deny"
reason = "trying"
dry_run = true
[[rule]]
modules = ["b.example"]
action = "deny"
reason = "enforced"
`)
	a, _ := p.Decide(context.Background(), &mapFacts{}, nil, "a.example/x", "v1.0.0")
	b, _ := p.Decide(context.Background(), &mapFacts{}, nil, "b.example/x", "v1.0.0")
	if a.Action() != "would-deny" || b.Action() != "deny" || !b.Enforced() {
		t.Errorf("per-rule dry run: a=%s b=%s", a.Action(), b.Action())
	}
}

func TestDecideModule(t *testing.T) {
	p := mustParse(t, enginePolicy)
	teamA := &auth.Identity{Name: "alice", Groups: []string{"team-a"}}
	tests := []struct {
		id      *auth.Identity
		mod     string
		decided bool
		want    string
	}{
		{teamA, "corp.example/team-a", true, "allow"},
		{nil, "corp.example/team-a", true, "deny"},
		{nil, "corp.example/tools", true, "allow"},
		{nil, "example.com/lib", false, ""}, // the incident list depends on the version
	}
	for _, tt := range tests {
		d, ok := p.DecideModule(tt.id, tt.mod)
		if ok != tt.decided || ok && d.Action() != tt.want {
			t.Errorf("DecideModule(%s): %v %s, want %v %s", tt.mod, ok, d.Action(), tt.decided, tt.want)
		}
	}
}

func TestConstraint(t *testing.T) {
	tests := []struct {
		c    string
		yes  []string
		no   []string
		fail bool
	}{
		{c: ">=1.2.0 <2.0.0", yes: []string{"v1.2.0", "v1.9.9", "v1.5.0-rc.1"}, no: []string{"v1.1.9", "v2.0.0", "v1.2.0-rc.1"}},
		{c: ">= v1.2.0, < v2", yes: []string{"v1.2.0"}, no: []string{"v2.0.0"}},
		{c: "v1.*", yes: []string{"v1.0.0", "v1.99.0", "v1.0.0-20240101000000-abcdefabcdef"}, no: []string{"v0.9.0", "v2.0.0"}},
		{c: "v1.2.*", yes: []string{"v1.2.0", "v1.2.7"}, no: []string{"v1.3.0"}},
		{c: "1.2.3", yes: []string{"v1.2.3"}, no: []string{"v1.2.4"}},
		{c: "=v2.0.0", yes: []string{"v2.0.0+incompatible"}, no: []string{"v2.0.1"}},
		{c: "!=1.0.0", yes: []string{"v1.0.1"}, no: []string{"v1.0.0"}},
		{c: "<1.0.0 || >=3.0.0", yes: []string{"v0.1.0", "v3.0.0"}, no: []string{"v1.0.0", "v2.5.0"}},
		{c: "*", yes: []string{"v0.0.1", "v9.0.0"}, no: []string{"not-a-version"}},
		{c: "", fail: true},
		{c: ">=", fail: true},
		{c: "~1.2", fail: true},
		{c: ">=v1.*", fail: true},
		{c: "v1.2.3.*", fail: true},
		{c: "1.0 ||", fail: true},
	}
	for _, tt := range tests {
		c, err := ParseConstraint(tt.c)
		if (err != nil) != tt.fail {
			t.Errorf("ParseConstraint(%q): err = %v", tt.c, err)
			continue
		}
		if err != nil {
			continue
		}
		for _, v := range tt.yes {
			if !c.Match(v) {
				t.Errorf("%q does not match %s", tt.c, v)
			}
		}
		for _, v := range tt.no {
			if c.Match(v) {
				t.Errorf("%q matches %s", tt.c, v)
			}
		}
	}
}

// Every mistake is reported with the line it is on.
func TestParseErrors(t *testing.T) {
	tests := []struct {
		src  string
		line int
		want string
	}{
		{"default = \"maybe\"\n", 1, `want "allow" or "deny"`},
		{"dry_run = tru\n", 1, ""},
		{"[[rule]]\nname = \"x\"\nmodules = [\"a.example\"]\naction = \"deny\"\n", 1, "needs a reason"},
		{"[[rule]]\naction = \"allow\"\n\n[[rule]]\naction = \"deny\"\nreason = \"r\"\nversions = \">=banana\"\n", 7, "not a semantic version"},
		{"[[rule]]\naction = \"allow\"\nmin_age = \"3 days\"\n", 3, "min_age"},
		{"[[rule]]\naction = \"allow\"\n\n[[rule]]\naction = \"allow\"\nmodulez = [\"x\"]\n", 6, `unknown key "rule.modulez"`},
		{"colour = \"red\"\n", 1, "unknown key"},
		{"[[rule]]\naction = \"permit\"\n", 2, "action"},
		{"[[rule]]\naction = \"deny\"\nreason = \"r\"\nvulnerable = true\n", 1, "no vuln_db"},
		{"vuln_db = \"/nonexistent\"\n", 1, "vuln_db"},
		{"[[rule]]\naction = \"allow\"\nmodule_versions = [\"example.com/m@latest\"]\n", 3, "module_versions"},
		{"[[rule]]\naction = \"allow\"\nmodules = [\"/abs\"]\n", 3, "modules"},
		{"[[rule]]\nname = \"a\"\naction = \"allow\"\n[[rule]]\nname = \"a\"\naction = \"allow\"\n", 5, "also the name"},
		{"[[rule]]\naction = \"deny\"\nreason = \"r\"\nmin_severity = \"high\"\n", 4, "vulnerable = true"},
		{"[[rule]]\naction = \"allow\"\ngroups = []\n", 3, "groups"},
		{"[[rule]]\naction = 3\n", 2, "rule.action: incompatible types"},
	}
	for _, tt := range tests {
		_, err := Parse("p.toml", []byte(tt.src))
		pe, ok := err.(*Error)
		if !ok {
			t.Errorf("%q: err = %v, want *Error", tt.src, err)
			continue
		}
		if pe.Line != tt.line || !strings.Contains(pe.Msg, tt.want) {
			t.Errorf("%q: got %v, want line %d and %q", tt.src, err, tt.line, tt.want)
		}
		if strings.Contains(err.Error(), "\n") || !strings.HasPrefix(err.Error(), fmt.Sprintf("p.toml:%d: ", tt.line)) {
			t.Errorf("%q: error is not one line with file:line: %q", tt.src, err)
		}
	}
}

// Another spelling of a module's repository (a case variant, or the path
// with a VCS suffix) must not dodge a rule written for the canonical one.
func TestDecideOtherSpellings(t *testing.T) {
	p := mustParse(t, `
[[rule]]
name = "old-lib"
modules = ["example.com/lib"]
versions = "<1.3.0"
action = "deny"
reason = "too old"
[[rule]]
name = "banned"
modules = ["example.com/banned"]
action = "deny"
reason = "banned"
[[rule]]
name = "git-only"
modules = ["example.com/gitonly.git"]
action = "deny"
reason = "named with .git"
[[rule]]
name = "mixed"
modules = ["example.com/Mixed"]
action = "allow"
[[rule]]
name = "incident"
module_versions = ["example.com/inc@v1.0.0"]
action = "deny"
reason = "incident"
[[rule]]
name = "trial"
modules = ["example.com/trial"]
action = "deny"
reason = "trying"
dry_run = true
[[rule]]
name = "cool-down"
min_age = "72h"
action = "deny"
reason = "too new"
`)
	old := time.Now().Add(-1000 * time.Hour)
	tests := []struct {
		mod, v   string
		want     string // action and rule
		spelling string // the spelling the deciding rule matched, if not mod
	}{
		{"example.com/lib", "v1.2.0", "deny old-lib", ""},
		{"example.com/Lib", "v1.2.0", "deny old-lib", "example.com/lib"},
		{"example.com/lib.git", "v1.2.0", "deny old-lib", "example.com/lib"},
		{"example.com/LIB.git", "v1.2.0", "deny old-lib", "example.com/lib"},
		{"example.com/lib.hg", "v1.2.0", "deny old-lib", "example.com/lib"},
		{"example.com/lib.svn", "v1.2.0", "deny old-lib", "example.com/lib"},
		{"example.com/lib.bzr", "v1.2.0", "deny old-lib", "example.com/lib"},
		{"example.com/lib.fossil", "v1.2.0", "deny old-lib", "example.com/lib"},
		{"example.com/lib.git/sub", "v1.2.0", "deny old-lib", "example.com/lib/sub"},
		{"example.com/Lib", "v1.3.0", "allow default", ""},
		{"example.com/Banned", "v1.0.0", "deny banned", "example.com/banned"},
		{"example.com/inc.git", "v1.0.0", "deny incident", "example.com/inc"},
		{"example.com/Trial", "v1.0.0", "would-deny trial", "example.com/trial"},
		// Rules naming one spelling explicitly keep working, and only for it
		// and the spellings that fold to it.
		{"example.com/gitonly.git", "v1.0.0", "deny git-only", ""},
		{"example.com/GitOnly.git", "v1.0.0", "deny git-only", "example.com/gitonly.git"},
		{"example.com/gitonly", "v1.0.0", "allow default", ""},
		{"example.com/Mixed", "v1.0.0", "allow mixed", ""},
		{"example.com/mixed", "v1.0.0", "allow default", ""},
		// A rule for every module decides by the path as asked.
		{"example.com/Fresh", "v1.0.0", "deny cool-down", ""},
	}
	for _, tt := range tests {
		f := &mapFacts{published: map[string]time.Time{}}
		if tt.mod != "example.com/Fresh" {
			f.published[tt.mod+"@"+tt.v] = old
		} else {
			f.published[tt.mod+"@"+tt.v] = time.Now()
			f.published["example.com/fresh@"+tt.v] = old
		}
		d, err := p.Decide(context.Background(), f, nil, tt.mod, tt.v)
		if err != nil {
			t.Errorf("%s@%s: %v", tt.mod, tt.v, err)
			continue
		}
		if got := d.Action() + " " + d.Rule; got != tt.want || d.Spelling != tt.spelling {
			t.Errorf("%s@%s: %s as %q, want %s as %q", tt.mod, tt.v, got, d.Spelling, tt.want, tt.spelling)
		}
		// Facts are those of the path asked for, never of another spelling.
		for _, a := range f.asked {
			if !strings.HasSuffix(a, " "+tt.mod+"@"+tt.v) {
				t.Errorf("%s@%s: asked facts of another path: %q", tt.mod, tt.v, a)
			}
		}
	}
	// Whole-module decisions (lists, @latest) too.
	p = mustParse(t, `
[[rule]]
name = "banned"
modules = ["example.com/banned"]
action = "deny"
reason = "banned"
[[rule]]
name = "old-lib"
modules = ["example.com/lib"]
versions = "<1.3.0"
action = "deny"
reason = "too old"
[[rule]]
name = "mixed"
modules = ["example.com/Mixed"]
action = "allow"
[[rule]]
name = "private"
modules = ["example.com"]
action = "allow"
`)
	mods := []struct {
		mod      string
		decided  bool
		want     string
		spelling string
	}{
		{"example.com/Banned", true, "deny", "example.com/banned"},
		{"example.com/banned.git", true, "deny", "example.com/banned"},
		{"example.com/Lib", false, "", ""}, // old-lib depends on the version
		{"example.com/Mixed", true, "allow", ""},
		{"example.com/Other.git", true, "allow", ""},
	}
	for _, tt := range mods {
		d, ok := p.DecideModule(nil, tt.mod)
		if ok != tt.decided || ok && (d.Action() != tt.want || d.Spelling != tt.spelling) {
			t.Errorf("DecideModule(%s): %v %s as %q, want %v %s as %q", tt.mod, ok, d.Action(), d.Spelling, tt.decided, tt.want, tt.spelling)
		}
	}
}

// A pseudo-version of a denied tag's commit is denied as the tag: the same
// content under another name. Every pseudo-version form counts.
func TestDecidePseudoVersionOfDeniedTag(t *testing.T) {
	p := mustParse(t, `
[[rule]]
name = "incident"
module_versions = ["example.com/lib@v1.0.0"]
action = "deny"
reason = "compromised release"
[[rule]]
name = "pseudo-ok"
pseudo = true
action = "allow"
`)
	const (
		v0   = "v0.0.0-20200101000000-0123456789ab" // no base tag
		post = "v0.9.1-0.20200101000000-0123456789ab"
		pre  = "v1.0.0-rc.1.0.20200101000000-0123456789ab"
		inc  = "v2.0.1-0.20200101000000-0123456789ab+incompatible"
	)
	aliases := map[string][]string{}
	for _, v := range []string{v0, post, pre, inc} {
		aliases["example.com/lib@"+v] = []string{"v1.0.0"}
	}
	f := &mapFacts{aliases: aliases}
	for _, v := range []string{v0, post, pre, inc} {
		d, err := p.Decide(context.Background(), f, nil, "example.com/lib", v)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allow || d.Rule != "incident" || d.Alias != "v1.0.0" {
			t.Errorf("%s: %+v, want denied by incident as v1.0.0", v, d)
		}
	}
	// The other spelling of the module path too.
	if d, _ := p.Decide(context.Background(), &mapFacts{aliases: map[string][]string{"example.com/Lib.git@" + v0: {"v1.0.0"}}}, nil, "example.com/Lib.git", v0); d.Allow {
		t.Errorf("other spelling: %+v", d)
	}
	// A vulnerable tag: GO-2099-0001 affects example.com/lib v1.2.0, and
	// v1.1.1-0.… sorts outside every range of the fixture database.
	pv := mustParse(t, `
vuln_db = "vulndb"
[[rule]]
name = "vulns"
vulnerable = true
action = "deny"
reason = "known vulnerability"
`)
	const vulnPseudo = "v1.1.1-0.20210101000000-abcdefabcdef"
	f.aliases["example.com/lib@"+vulnPseudo] = []string{"v1.2.0"}
	if d, _ := pv.Decide(context.Background(), f, nil, "example.com/lib", vulnPseudo); d.Allow || d.Rule != "vulns" || d.Alias != "v1.2.0" || !strings.Contains(d.Detail, "GO-2099-0001") {
		t.Errorf("pseudo-version of a vulnerable tag: %+v", d)
	}
	// A pseudo-version of a commit no denied tag names is allowed.
	f.aliases["example.com/lib@"+vulnPseudo] = []string{"v1.1.0"}
	if d, _ := pv.Decide(context.Background(), f, nil, "example.com/lib", vulnPseudo); !d.Allow {
		t.Errorf("pseudo-version of an allowed tag: %+v", d)
	}
	// Offline (aliases unknown) the decision says what it could not check.
	d, _ := p.Decide(context.Background(), &mapFacts{}, nil, "example.com/lib", v0)
	if len(d.Unknown) == 0 || !strings.Contains(d.Unknown[0], "same commit") {
		t.Errorf("offline: %+v", d)
	}
}

// A policy that does not look at versions never asks for aliases.
func TestDecidePseudoVersionNoAliasLookup(t *testing.T) {
	p := mustParse(t, `
[[rule]]
name = "corp"
modules = ["corp.example"]
action = "deny"
reason = "no"
`)
	f := &mapFacts{}
	if d, _ := p.Decide(context.Background(), f, nil, "example.com/lib", "v0.0.0-20200101000000-0123456789ab"); !d.Allow || len(f.asked) != 0 {
		t.Errorf("%+v, asked %v", d, f.asked)
	}
}
