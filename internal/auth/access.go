package auth

import (
	"context"
	"fmt"
	"net/http"
	"path"
	"regexp"
	"slices"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
	"github.com/gatehouse-dev/gatehouse/internal/spelling"
)

// A Rule grants the modules matching any of its patterns to its groups.
// Pattern elements are separated by "/"; "*" (and other path.Match globs)
// match within one element, and a final "/**" matches any number of
// further elements, including none. "*" in Groups means every identity.
type Rule struct {
	Modules []string
	Groups  []string
}

// CheckModulePattern checks one pattern of a Rule.
func CheckModulePattern(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//") {
		return fmt.Errorf("%q is not a module path pattern", p)
	}
	for i, el := range strings.Split(p, "/") {
		if el == "**" {
			if i != strings.Count(p, "/") {
				return fmt.Errorf("%q: ** may only be the last element", p)
			}
			continue
		}
		if strings.Contains(el, "**") {
			return fmt.Errorf("%q: ** must be a whole element", p)
		}
		if _, err := path.Match(el, ""); err != nil {
			return fmt.Errorf("%q: bad pattern element %q", p, el)
		}
	}
	return nil
}

// MatchModule reports whether module path mod matches pattern p.
func MatchModule(p, mod string) bool {
	pe, me := strings.Split(p, "/"), strings.Split(mod, "/")
	if n := len(pe); n > 0 && pe[n-1] == "**" {
		pe = pe[:n-1]
		if len(me) < len(pe) {
			return false
		}
		me = me[:len(pe)]
	}
	if len(pe) != len(me) {
		return false
	}
	for i := range pe {
		if ok, _ := path.Match(pe[i], me[i]); !ok {
			return false
		}
	}
	return true
}

// Access is the authorization gate: ordered rules, the first whose
// patterns match a module decides who may see it, and a module no rule
// matches is seen by no one. Refusals look like "not found" (404), so a
// caller cannot learn that a module exists; DenyStatus 403 says it plainly
// instead, for debugging a setup.
type Access struct {
	Rules      []Rule
	DenyStatus int // 404 (default) or 403
}

// NewAccess checks rules and returns the gate.
func NewAccess(rules []Rule, denyStatus int) (*Access, error) {
	for i, r := range rules {
		if len(r.Modules) == 0 || len(r.Groups) == 0 {
			return nil, fmt.Errorf("access rule %d: needs modules and groups", i+1)
		}
		for _, p := range r.Modules {
			if err := CheckModulePattern(p); err != nil {
				return nil, fmt.Errorf("access rule %d: %v", i+1, err)
			}
		}
	}
	switch denyStatus {
	case 0:
		denyStatus = http.StatusNotFound
	case http.StatusNotFound, http.StatusForbidden:
	default:
		return nil, fmt.Errorf("deny status %d is not 404 or 403", denyStatus)
	}
	return &Access{Rules: rules, DenyStatus: denyStatus}, nil
}

// Allowed reports whether id may see module mod, and which rule (1-based,
// 0 for none) decided. Other spellings of mod's repository must be allowed
// too, when a rule covers them: a VCS-qualified path (corp.example.com/lib.git)
// names the plain one's repository for the go command, and most git hosts
// ignore case (github.com/corp/Lib is github.com/corp/lib).
func (a *Access) Allowed(id *Identity, mod string) (bool, int) {
	ok, rule := a.allowed(id, mod, false)
	if !ok {
		return ok, rule
	}
	for _, other := range OtherSpellings(mod) {
		if ok, r := a.allowed(id, other, false); !ok && r > 0 {
			return false, r
		}
	}
	// A rule written in another case (github.com/Corp/secret, as GitHub
	// shows the name) covers the lower-case spelling too.
	for _, other := range append(OtherSpellings(mod), mod) {
		if ok, r := a.allowed(id, other, true); !ok && r > 0 {
			return false, r
		}
	}
	return true, rule
}

// OtherSpellings returns the spellings of mod's repository other than mod
// itself (spelling.Others): mod without its VCS suffixes, lower-cased, and
// both. The go command fetches the same repository for each of them (git
// servers serve lib.git at /lib, most git hosts ignore case), so a rule
// written for one covers them all.
func OtherSpellings(mod string) []string { return spelling.Others(mod) }

// allowed applies the first rule that matches mod; with fold, patterns and
// mod are compared in lower case.
func (a *Access) allowed(id *Identity, mod string, fold bool) (bool, int) {
	if fold {
		mod = strings.ToLower(mod)
	}
	for i, r := range a.Rules {
		if !slices.ContainsFunc(r.Modules, func(p string) bool {
			if fold {
				p = strings.ToLower(p)
			}
			return MatchModule(p, mod)
		}) {
			continue
		}
		if slices.Contains(r.Groups, "*") && id != nil {
			return true, i + 1
		}
		for _, g := range r.Groups {
			if id.InGroup(g) {
				return true, i + 1
			}
		}
		return false, i + 1
	}
	return false, 0
}

type denied struct {
	status int
	msg    string
}

func (d *denied) Error() string   { return d.msg }
func (d *denied) HTTPStatus() int { return d.status }

// Admit implements the server's Gate: a module the caller may not see is
// refused for every kind of request, @v/list and @latest included.
func (a *Access) Admit(ctx context.Context, req goproxy.Request) error {
	id := FromContext(ctx)
	ok, rule := a.Allowed(id, req.Module)
	e := reqlog.From(ctx)
	if rule > 0 {
		e.Rule = fmt.Sprintf("access#%d", rule)
	}
	if ok {
		return nil
	}
	e.Decision, e.Reason = "deny", "no access to module"
	if a.DenyStatus == http.StatusForbidden {
		name := "anonymous"
		if id != nil {
			name = id.Name
		}
		return &denied{http.StatusForbidden, fmt.Sprintf("gatehouse: access denied: %s may not fetch %s\nNo access rule grants this module to its groups; ask the proxy's operator.", name, req.Module)}
	}
	// The same words as a module that does not exist.
	return &denied{http.StatusNotFound, "not found: " + req.String()}
}

// FilterVersions implements the server's Gate. Access is per module, and
// Admit has already refused modules the caller may not see.
func (a *Access) FilterVersions(ctx context.Context, mod string, versions []string) ([]string, error) {
	if ok, _ := a.Allowed(FromContext(ctx), mod); !ok {
		return nil, nil
	}
	return versions, nil
}

// dataTileRE matches checksum database data tiles (/tile/H/data/N...),
// which hold the records themselves: every module path and version in the
// log. The go command never asks for them; it needs only hash tiles.
var dataTileRE = regexp.MustCompile(`/tile/[0-9]+/data/`)

// SumDB refuses checksum database data tiles, which would list every
// module in gatehouse's own log to any caller. (Lookups, which name one
// module version, pass through every gate in the server, like downloads.)
func (a *Access) SumDB(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.Path, "/sumdb/")
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		e := reqlog.From(r.Context())
		if dataTileRE.MatchString(rest) {
			e.Decision, e.Reason = "deny", "data tiles are not served under access rules"
			refuse(w, http.StatusNotFound, "not found: checksum database data tiles are not served here; the go command does not need them")
			return
		}
		next.ServeHTTP(w, r)
	})
}
