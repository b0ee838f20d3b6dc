package policy

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// A Constraint is a set of versions written like ">=1.2.0 <2.0.0" (terms
// separated by spaces or commas must all hold), "v1.*" (a wildcard over the
// major or minor version), "v1.2.3" (exactly), with alternatives joined by
// "||". The leading v is optional. Comparison is semver's: prereleases
// and pseudo-versions sort below their release, build suffixes such as
// +incompatible are ignored.
type Constraint struct {
	text string
	alts [][]term
}

type term struct {
	op      string // = != < <= > >=, or "major"/"minor" for wildcards, "any" for *
	version string // canonical-ish, with the v
}

// ParseConstraint parses s; the empty string is an error (omit the key to
// match every version).
func ParseConstraint(s string) (*Constraint, error) {
	c := &Constraint{text: s}
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("empty version constraint")
	}
	for _, alt := range strings.Split(s, "||") {
		fields := strings.FieldsFunc(alt, func(r rune) bool { return r == ' ' || r == ',' || r == '\t' })
		if len(fields) == 0 {
			return nil, fmt.Errorf("%q: empty alternative around ||", s)
		}
		var terms []term
		for i := 0; i < len(fields); i++ {
			f := fields[i]
			// Allow a space between operator and version: ">= 1.2.0".
			if isOp(f) && i+1 < len(fields) {
				f += fields[i+1]
				i++
			}
			t, err := parseTerm(f)
			if err != nil {
				return nil, fmt.Errorf("%q: %v", s, err)
			}
			terms = append(terms, t)
		}
		c.alts = append(c.alts, terms)
	}
	return c, nil
}

func isOp(s string) bool {
	switch s {
	case "=", "==", "!=", "<", "<=", ">", ">=":
		return true
	}
	return false
}

func parseTerm(f string) (term, error) {
	op := ""
	for _, o := range []string{">=", "<=", "!=", "==", ">", "<", "="} {
		if strings.HasPrefix(f, o) {
			op, f = o, f[len(o):]
			break
		}
	}
	if op == "==" {
		op = "="
	}
	v := f
	if !strings.HasPrefix(v, "v") {
		v = "v" + v
	}
	if f == "*" {
		if op != "" {
			return term{}, fmt.Errorf("%q: a wildcard takes no operator", op+f)
		}
		return term{op: "any"}, nil
	}
	if base, ok := strings.CutSuffix(v, ".*"); ok {
		if op != "" {
			return term{}, fmt.Errorf("%q: a wildcard takes no operator", op+f)
		}
		if !semver.IsValid(base) || strings.ContainsAny(base, "-+") {
			return term{}, fmt.Errorf("%q is not a wildcard like v1.* or v1.2.*", f)
		}
		if strings.Count(base, ".") == 0 {
			return term{op: "major", version: base}, nil
		}
		if strings.Count(base, ".") == 1 {
			return term{op: "minor", version: base}, nil
		}
		return term{}, fmt.Errorf("%q is not a wildcard like v1.* or v1.2.*", f)
	}
	if !semver.IsValid(v) {
		return term{}, fmt.Errorf("%q is not a semantic version", f)
	}
	if op == "" {
		op = "="
	}
	return term{op: op, version: v}, nil
}

// Match reports whether version satisfies the constraint.
func (c *Constraint) Match(version string) bool {
	if !semver.IsValid(version) {
		return false
	}
	for _, alt := range c.alts {
		ok := true
		for _, t := range alt {
			if !t.match(version) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func (t term) match(v string) bool {
	switch t.op {
	case "any":
		return true
	case "major":
		return semver.Major(v) == t.version
	case "minor":
		return semver.MajorMinor(v) == t.version
	}
	c := semver.Compare(v, t.version)
	switch t.op {
	case "=":
		return c == 0
	case "!=":
		return c != 0
	case "<":
		return c < 0
	case "<=":
		return c <= 0
	case ">":
		return c > 0
	case ">=":
		return c >= 0
	}
	return false
}

func (c *Constraint) String() string { return c.text }
