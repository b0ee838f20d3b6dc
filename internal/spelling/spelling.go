// Package spelling knows which module paths name the same repository. The
// go command takes the first path element after the host that ends in a
// VCS suffix as naming a repository directly (cmd/go's vcsPaths: lib.git
// is the git repository at lib, lib.git.git the one at lib.git), git
// servers serve a repository lib.git at both /lib and /lib.git, and most
// git hosts ignore case. So git.corp/lib, git.corp/lib.git,
// git.corp/lib.git.git and git.corp/Lib may all read one repository; a
// gate must judge each of them as the repository it reads.
package spelling

import (
	"context"
	"net/http"
	"slices"
	"strings"

	"golang.org/x/mod/module"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

// vcsSuffixes are the suffixes with which the go command takes a path
// element as naming a repository directly.
var vcsSuffixes = []string{".bzr", ".fossil", ".git", ".hg", ".svn"}

// qualified finds the element of mod that names its repository with VCS
// suffixes (the first after the host that has one) and returns the
// elements, its index and how many suffixes it carries (0: none).
func qualified(mod string) (els []string, at, suffixes int) {
	if !slices.ContainsFunc(vcsSuffixes, func(suf string) bool { return strings.Contains(mod, suf) }) {
		return nil, 0, 0 // the common case, without splitting
	}
	els = strings.Split(mod, "/")
	for i := 1; i < len(els); i++ {
		el, n := els[i], 0
		for {
			base, ok := cutVCSSuffix(el)
			if !ok {
				break
			}
			el, n = base, n+1
		}
		if n > 0 {
			return els, i, n
		}
	}
	return nil, 0, 0
}

func cutVCSSuffix(el string) (string, bool) {
	for _, suf := range vcsSuffixes {
		if base, ok := strings.CutSuffix(el, suf); ok && base != "" {
			return base, true
		}
	}
	return el, false
}

// unqualified returns mod with the VCS suffixes of its repository element
// removed one at a time: git.corp/lib.git.git/v2 gives git.corp/lib.git/v2
// and git.corp/lib/v2. A /vN major suffix stays: it is part of the module
// path, not of the repository's.
func unqualified(mod string) []string {
	els, at, n := qualified(mod)
	var out []string
	for ; n > 0; n-- {
		els[at], _ = cutVCSSuffix(els[at])
		out = append(out, strings.Join(els, "/"))
	}
	return out
}

// Others returns the spellings of mod's repository other than mod itself,
// without repeats: mod without its VCS suffixes (each of them in turn),
// lower-cased, and both. A rule written for any of them covers mod too.
func Others(mod string) []string {
	var out []string
	add := func(s string) {
		if s != mod && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	for _, p := range unqualified(mod) {
		add(p)
	}
	// Lower-cased, a suffix may appear (lib.GIT is lib.git to the host).
	lower := strings.ToLower(mod)
	add(lower)
	for _, p := range unqualified(lower) {
		add(p)
	}
	return out
}

// MatchPrefixPatterns reports whether any spelling of mod's repository
// (mod itself or one of Others) matches the GOPRIVATE-style patterns, with
// case ignored. A pattern that names one repository (git.corp/lib) must
// cover git.corp/lib.git and git.corp/Lib too: the go command fetches that
// repository for them, so a path that fails to match would be treated as
// public and sent to the public upstream and checksum database.
func MatchPrefixPatterns(patterns, mod string) bool {
	if patterns == "" {
		return false
	}
	if module.MatchPrefixPatterns(patterns, mod) {
		return true
	}
	lower := strings.ToLower(patterns)
	for _, s := range append(Others(mod), mod) {
		if module.MatchPrefixPatterns(lower, strings.ToLower(s)) {
			return true
		}
	}
	return false
}

// Plain reports whether mod names its repository without a VCS suffix.
func Plain(mod string) bool {
	_, _, n := qualified(mod)
	return n == 0
}

// Alias reports whether mod is a spelling under which no repository is
// named: its repository element has more than one VCS suffix (lib.git.git).
// The go command fetches the repository lib.git for it, which git servers
// serve as lib: it is only ever another name for a repository.
func Alias(mod string) bool {
	_, _, n := qualified(mod)
	return n > 1
}

// Gate is a server gate that refuses aliases (see Alias) of private module
// paths with the answer a path that does not exist gets, for every request
// kind, whether fetched or already stored: one repository is served under
// one name.
type Gate struct {
	Private func(modPath string) bool
}

type notFound struct{ msg string }

func (e *notFound) Error() string   { return e.msg }
func (e *notFound) HTTPStatus() int { return http.StatusNotFound }

// Admit implements the server's Gate.
func (g Gate) Admit(ctx context.Context, req goproxy.Request) error {
	if !Alias(req.Module) || g.Private == nil || !g.Private(req.Module) {
		return nil
	}
	e := reqlog.From(ctx)
	e.Decision, e.Reason = "deny", "another spelling of a private repository's path"
	// The same words as a module that does not exist (server.fail).
	return &notFound{"not found: " + req.String()}
}

// FilterVersions implements the server's Gate: Admit decides per module.
func (g Gate) FilterVersions(_ context.Context, _ string, versions []string) ([]string, error) {
	return versions, nil
}
