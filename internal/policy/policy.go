// Package policy decides which module versions may enter: an ordered list
// of rules, first match wins, with a default action. A rule matches on the
// module path, the version, the caller's groups and built-in conditions
// (age, retraction, pseudo-versions, +incompatible, known vulnerabilities,
// an explicit list); it allows or denies, with a reason.
//
// The package only decides. Facts that need the network (when a version
// was published, what the latest go.mod retracts) come from a Facts the
// caller supplies; the vulnerability database is loaded with the policy.
package policy

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/vulndb"
)

// Policy is a compiled policy file. It is immutable, so one value can be
// shared by every request and swapped whole on reload.
type Policy struct {
	File          string
	DryRun        bool
	DefaultAllow  bool
	DefaultReason string
	DefaultLine   int
	Rules         []*Rule
	Vulns         *vulndb.DB // nil without vuln_db
	VulnDBDir     string
}

// A Rule is one [[rule]] of the file.
type Rule struct {
	Name   string // from the file, or "#<n>"
	Line   int    // of its [[rule]] header
	Allow  bool
	Reason string
	DryRun bool

	Modules        []string // GOPRIVATE-style patterns; nil: every module
	Versions       *Constraint
	Groups         []string // caller in any of them; nil: everyone
	MinAge         time.Duration
	Retracted      *bool
	Pseudo         *bool
	Incompatible   *bool
	Vulnerable     *bool
	MinSeverity    vulndb.Severity
	ModuleVersions map[string]bool // "path@version"
	listedModules  map[string]bool // the paths of ModuleVersions
}

// Facts supplies what a decision may need beyond the policy file. A Facts
// that cannot know something (offline) returns an error wrapping ErrUnknown.
type Facts interface {
	// Published returns when the version first appeared: a time its
	// author cannot choose (see docs/policy.md for the clocks).
	Published(ctx context.Context, modPath, version string) (time.Time, error)
	// Retracted reports whether the module's latest go.mod retracts
	// version, and the rationale it gives.
	Retracted(ctx context.Context, modPath, version string) (bool, string, error)
	// Aliases returns the tagged versions of modPath that may be the same
	// commit as the pseudo-version pseudo: the same content under another
	// name. When in doubt it must list the tag (a false alias only makes
	// the pseudo-version as strict as the tag).
	Aliases(ctx context.Context, modPath, pseudo string) ([]string, error)
}

// ErrUnknown marks a fact that cannot be known where the decision is made.
var ErrUnknown = errors.New("not known")

// A Decision is the outcome for one module version and caller.
type Decision struct {
	Allow  bool
	Rule   string // the rule's name, or "default"
	Line   int    // of the rule in the policy file
	Reason string // the rule's reason
	Detail string // what the rule's conditions found, e.g. "published 2h ago"
	DryRun bool   // a deny that is to be logged, not enforced
	// Spelling is the other spelling of the module path that the deciding
	// rule matched (github.com/x/y for github.com/X/Y.git); "": as asked.
	Spelling string
	// Alias is the tagged version the deciding rule matched when the
	// version asked for is a pseudo-version of the same commit; "": as asked.
	Alias string

	// Unknown lists the conditions that could not be evaluated (offline
	// explain); the rules that needed them were treated as not matching.
	Unknown []string
}

// MaxMinAge is the longest min_age of the rules (0: none has one).
func (p *Policy) MaxMinAge() time.Duration {
	var d time.Duration
	for _, r := range p.Rules {
		d = max(d, r.MinAge)
	}
	return d
}

// Enforced reports whether the decision refuses the version.
func (d Decision) Enforced() bool { return !d.Allow && !d.DryRun }

// Action is "allow", "deny" or "would-deny", as logged.
func (d Decision) Action() string {
	switch {
	case d.Allow:
		return "allow"
	case d.DryRun:
		return "would-deny"
	}
	return "deny"
}

// Text is the reason with the details, in one line.
func (d Decision) Text() string {
	if d.Detail == "" {
		return d.Reason
	}
	if d.Reason == "" {
		return d.Detail
	}
	return d.Reason + " (" + d.Detail + ")"
}

// Decide returns the decision for modPath@version and the caller id (nil
// when no authentication is configured: group rules do not match). It
// returns an error only when a fact it needs cannot be had (the network),
// not for facts that are ErrUnknown.
//
// The other spellings of the module's repository (auth.OtherSpellings) are
// decided too, with the facts of modPath; a deny by a rule that names such
// a spelling wins over the decision for modPath as asked, so that asking
// for github.com/X/Y.git does not dodge a rule for github.com/x/y.
//
// A pseudo-version is also decided as each tagged version of the same
// commit (Facts.Aliases), and the strictest decision wins: asking for
// v0.0.0-<time>-<hash> of the commit tagged v1.0.0 does not dodge a rule
// that denies v1.0.0.
func (p *Policy) Decide(ctx context.Context, facts Facts, id *auth.Identity, modPath, version string) (Decision, error) {
	d, err := p.decideSpellings(ctx, facts, id, modPath, version)
	if err != nil || !module.IsPseudoVersion(version) || d.Enforced() {
		return d, err
	}
	if _, ok := p.DecideModule(id, modPath); ok {
		return d, nil // no rule looks at the version: every name of a commit is decided alike
	}
	tags, err := facts.Aliases(ctx, modPath, version)
	if errors.Is(err, ErrUnknown) {
		d.Unknown = append(d.Unknown, fmt.Sprintf("tagged versions of the same commit as %s: %v", version, err))
		return d, nil
	}
	if err != nil {
		return Decision{}, fmt.Errorf("tagged versions of the same commit: %w", err)
	}
	for _, tag := range tags {
		if module.IsPseudoVersion(tag) {
			continue // only tags: a pseudo-version's aliases are tags, not each other
		}
		o, err := p.decideSpellings(ctx, facts, id, modPath, tag)
		if err != nil {
			return Decision{}, err
		}
		for _, u := range o.Unknown {
			if !slices.Contains(d.Unknown, u) {
				d.Unknown = append(d.Unknown, u)
			}
		}
		if stricter(o, d) {
			o.Alias, o.Unknown = tag, d.Unknown
			o.Detail = strings.TrimSuffix("the commit of "+tag+"; "+o.Detail, "; ")
			d = o
		}
	}
	return d, nil
}

// decideSpellings is Decide without the aliases of a pseudo-version.
func (p *Policy) decideSpellings(ctx context.Context, facts Facts, id *auth.Identity, modPath, version string) (Decision, error) {
	d, _, err := p.decide(ctx, facts, id, modPath, version)
	if err != nil {
		return Decision{}, err
	}
	for _, other := range auth.OtherSpellings(modPath) {
		o, named, err := p.decide(ctx, pinnedFacts{facts, modPath}, id, other, version)
		if err != nil {
			return Decision{}, err
		}
		for _, u := range o.Unknown {
			if !slices.Contains(d.Unknown, u) {
				d.Unknown = append(d.Unknown, u)
			}
		}
		if named && stricter(o, d) {
			o.Spelling, o.Unknown = other, d.Unknown
			d = o
		}
	}
	return d, nil
}

// decide is Decide for one spelling; named reports whether the deciding
// rule looks at the module path (a rule for every module decides every
// spelling alike, so only the path as asked counts for it).
func (p *Policy) decide(ctx context.Context, facts Facts, id *auth.Identity, modPath, version string) (d Decision, named bool, err error) {
	var unknown []string
	for _, r := range p.Rules {
		ok, detail, err := r.match(ctx, p, facts, id, modPath, version)
		if errors.Is(err, ErrUnknown) {
			unknown = append(unknown, fmt.Sprintf("rule %s (line %d): %v", r.Name, r.Line, err))
			continue
		}
		if err != nil {
			return Decision{}, false, err
		}
		if ok {
			return Decision{Allow: r.Allow, Rule: r.Name, Line: r.Line, Reason: r.Reason, Detail: detail,
				DryRun: !r.Allow && (p.DryRun || r.DryRun), Unknown: unknown}, r.namesModules(), nil
		}
	}
	return Decision{Allow: p.DefaultAllow, Rule: "default", Line: p.DefaultLine, Reason: p.DefaultReason,
		DryRun: !p.DefaultAllow && p.DryRun, Unknown: unknown}, false, nil
}

// stricter reports whether o refuses more than d: a deny over an allow,
// an enforced deny over a dry-run one.
func stricter(o, d Decision) bool {
	return !o.Allow && (d.Allow || d.DryRun && !o.DryRun)
}

// pinnedFacts answers with the facts of one module path whatever path is
// asked: another spelling is decided with the facts of the path requested.
type pinnedFacts struct {
	Facts
	modPath string
}

func (f pinnedFacts) Published(ctx context.Context, _, version string) (time.Time, error) {
	return f.Facts.Published(ctx, f.modPath, version)
}

func (f pinnedFacts) Retracted(ctx context.Context, _, version string) (bool, string, error) {
	return f.Facts.Retracted(ctx, f.modPath, version)
}

func (f pinnedFacts) Aliases(ctx context.Context, _, pseudo string) ([]string, error) {
	return f.Facts.Aliases(ctx, f.modPath, pseudo)
}

// DecideModule decides for a whole module (its version list and @latest)
// when that is possible without a version: the first rule that could
// apply to the caller must not depend on the version, for the path as
// asked and for its other spellings (as in Decide). It returns false when
// the versions have to be decided one by one.
func (p *Policy) DecideModule(id *auth.Identity, modPath string) (Decision, bool) {
	d, _, ok := p.decideModule(id, modPath)
	if !ok {
		return Decision{}, false
	}
	for _, other := range auth.OtherSpellings(modPath) {
		o, named, ok := p.decideModule(id, other)
		if !ok {
			return Decision{}, false
		}
		if named && stricter(o, d) {
			o.Spelling = other
			d = o
		}
	}
	return d, true
}

func (p *Policy) decideModule(id *auth.Identity, modPath string) (Decision, bool, bool) {
	for _, r := range p.Rules {
		if !r.matchModule(id, modPath) || !r.couldMatch(p, modPath) {
			continue
		}
		if r.versionDependent() {
			return Decision{}, false, false
		}
		return Decision{Allow: r.Allow, Rule: r.Name, Line: r.Line, Reason: r.Reason,
			DryRun: !r.Allow && (p.DryRun || r.DryRun)}, r.namesModules(), true
	}
	return Decision{Allow: p.DefaultAllow, Rule: "default", Line: p.DefaultLine, Reason: p.DefaultReason,
		DryRun: !p.DefaultAllow && p.DryRun}, false, true
}

// namesModules reports whether the rule's match depends on the module path.
func (r *Rule) namesModules() bool {
	return r.Modules != nil || r.ModuleVersions != nil || r.Vulnerable != nil
}

func (r *Rule) matchModule(id *auth.Identity, modPath string) bool {
	if r.Modules != nil && !module.MatchPrefixPatterns(strings.Join(r.Modules, ","), modPath) {
		return false
	}
	if r.Groups != nil {
		in := false
		for _, g := range r.Groups {
			if id.InGroup(g) {
				in = true
				break
			}
		}
		if !in {
			return false
		}
	}
	return true
}

// couldMatch reports whether some version of modPath could match the
// rule's list and vulnerability conditions.
func (r *Rule) couldMatch(p *Policy, modPath string) bool {
	if r.ModuleVersions != nil && !r.listedModules[modPath] {
		return false
	}
	if r.Vulnerable != nil && *r.Vulnerable && !p.Vulns.Has(modPath) {
		return false
	}
	return true
}

func (r *Rule) versionDependent() bool {
	return r.Versions != nil || r.MinAge > 0 || r.Retracted != nil || r.Pseudo != nil ||
		r.Incompatible != nil || r.Vulnerable != nil || r.ModuleVersions != nil
}

// match evaluates the rule, cheap conditions first, so that the facts that
// cost a fetch are asked only when everything else already matches.
func (r *Rule) match(ctx context.Context, p *Policy, facts Facts, id *auth.Identity, modPath, version string) (bool, string, error) {
	if !r.matchModule(id, modPath) {
		return false, "", nil
	}
	if r.ModuleVersions != nil && !r.ModuleVersions[modPath+"@"+version] {
		return false, "", nil
	}
	if r.Versions != nil && !r.Versions.Match(version) {
		return false, "", nil
	}
	if r.Pseudo != nil && module.IsPseudoVersion(version) != *r.Pseudo {
		return false, "", nil
	}
	if r.Incompatible != nil && strings.HasSuffix(version, "+incompatible") != *r.Incompatible {
		return false, "", nil
	}
	var details []string
	if r.ModuleVersions != nil {
		details = append(details, "listed as "+modPath+"@"+version)
	}
	if r.Vulnerable != nil {
		var found []string
		for _, v := range p.Vulns.Affecting(modPath, version) {
			if r.MinSeverity == vulndb.Unknown || v.Severity == vulndb.Unknown || v.Severity >= r.MinSeverity {
				found = append(found, vulnText(v))
			}
		}
		if (len(found) > 0) != *r.Vulnerable {
			return false, "", nil
		}
		if len(found) > 0 {
			details = append(details, "known vulnerabilities: "+strings.Join(found, ", "))
		}
	}
	if r.Retracted != nil {
		retracted, rationale, err := facts.Retracted(ctx, modPath, version)
		if err != nil {
			return false, "", fmt.Errorf("retraction: %w", err)
		}
		if retracted != *r.Retracted {
			return false, "", nil
		}
		if retracted {
			d := "retracted by the module's authors"
			if rationale != "" {
				d += ": " + rationale
			}
			details = append(details, d)
		}
	}
	if r.MinAge > 0 {
		t, err := facts.Published(ctx, modPath, version)
		if err != nil {
			return false, "", fmt.Errorf("min_age: publish time: %w", err)
		}
		age := time.Since(t)
		if age >= r.MinAge {
			return false, "", nil
		}
		details = append(details, fmt.Sprintf("published %s, %s ago; min_age is %s",
			t.UTC().Format(time.RFC3339), FormatDuration(roundAge(age)), FormatDuration(r.MinAge)))
	}
	return true, strings.Join(details, "; "), nil
}

func vulnText(v *vulndb.Vuln) string {
	s := v.ID
	if v.Severity != vulndb.Unknown {
		s += " (" + v.Severity.String() + ")"
	}
	return s
}

func roundAge(d time.Duration) time.Duration {
	switch {
	case d < 0:
		return 0
	case d < time.Minute:
		return d.Round(time.Second)
	}
	return d.Round(time.Minute)
}

// FormatDuration writes d without zero minutes and seconds: 72h, 1h30m.
func FormatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
