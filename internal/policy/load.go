package policy

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gatehouse-dev/gatehouse/internal/vulndb"
)

// file is the policy file as written.
type file struct {
	Default       string     `toml:"default"`
	DefaultReason string     `toml:"default_reason"`
	DryRun        bool       `toml:"dry_run"`
	VulnDB        string     `toml:"vuln_db"`
	Rules         []fileRule `toml:"rule"`
}

type fileRule struct {
	Name           string   `toml:"name"`
	Action         string   `toml:"action"`
	Reason         string   `toml:"reason"`
	DryRun         bool     `toml:"dry_run"`
	Modules        []string `toml:"modules"`
	Versions       *string  `toml:"versions"`
	Groups         []string `toml:"groups"`
	MinAge         string   `toml:"min_age"`
	Retracted      *bool    `toml:"retracted"`
	Pseudo         *bool    `toml:"pseudo"`
	Incompatible   *bool    `toml:"incompatible"`
	Vulnerable     *bool    `toml:"vulnerable"`
	MinSeverity    string   `toml:"min_severity"`
	ModuleVersions []string `toml:"module_versions"`
}

// An Error is a problem in a policy file, with the line it is on.
type Error struct {
	File string
	Line int // 0 when unknown
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

var typeErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "([^"]*)"\): (.*)$`)

// maxFile bounds the policy file; a real one is a few KiB.
const maxFile = 4 << 20

// Load reads and compiles the policy file name, and loads its
// vulnerability database. Errors are *Error values naming the line.
func Load(name string) (*Policy, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{File: name, Msg: "cannot read policy file: " + err.Error()}
	}
	if len(data) > maxFile {
		return nil, &Error{File: name, Msg: fmt.Sprintf("policy file is larger than %d bytes", maxFile)}
	}
	return Parse(name, data)
}

// Parse compiles a policy file's contents; name is used in errors and to
// resolve a relative vuln_db.
func Parse(name string, data []byte) (*Policy, error) {
	src := string(data)
	var f file
	md, err := toml.Decode(src, &f)
	if err != nil {
		var perr toml.ParseError
		if errors.As(err, &perr) {
			return nil, &Error{File: name, Line: perr.Position.Line, Msg: perr.Message}
		}
		// Type mismatches carry the line only in their text.
		if m := typeErrRE.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			return nil, &Error{File: name, Line: line, Msg: m[2] + ": " + m[3]}
		}
		return nil, &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
	}
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0]
		line := 0
		if len(k) >= 2 && k[0] == "rule" {
			line = firstRuleKeyLine(src, k[len(k)-1])
		} else {
			line = topKeyLine(src, k[0])
		}
		return nil, &Error{File: name, Line: line, Msg: fmt.Sprintf("unknown key %q", k.String())}
	}
	p := &Policy{File: name, DryRun: f.DryRun, DefaultReason: f.DefaultReason, DefaultLine: topKeyLine(src, "default")}
	switch f.Default {
	case "allow", "":
		p.DefaultAllow = true
	case "deny":
		if p.DefaultReason == "" {
			p.DefaultReason = "no rule of the policy allows it"
		}
	default:
		return nil, &Error{File: name, Line: p.DefaultLine, Msg: fmt.Sprintf("default = %q: want \"allow\" or \"deny\"", f.Default)}
	}
	names := map[string]int{}
	for i, fr := range f.Rules {
		line := ruleLine(src, i)
		bad := func(key, format string, args ...any) error {
			l := ruleKeyLine(src, i, key)
			if l == 0 {
				l = line
			}
			return &Error{File: name, Line: l, Msg: fmt.Sprintf("rule %d: %s: ", i+1, key) + fmt.Sprintf(format, args...)}
		}
		r, err := compileRule(fr, i, bad)
		if err != nil {
			return nil, err
		}
		r.Line = line
		if prev, dup := names[r.Name]; dup {
			return nil, bad("name", "%q is also the name of rule %d", r.Name, prev+1)
		}
		names[r.Name] = i
		p.Rules = append(p.Rules, r)
	}
	if f.VulnDB != "" {
		dir := f.VulnDB
		if !filepath.IsAbs(dir) {
			dir = filepath.Join(filepath.Dir(name), dir)
		}
		db, err := vulndb.Open(dir)
		if err != nil {
			return nil, &Error{File: name, Line: topKeyLine(src, "vuln_db"), Msg: "vuln_db: " + err.Error()}
		}
		p.Vulns, p.VulnDBDir = db, dir
	}
	for _, r := range p.Rules {
		if r.Vulnerable != nil && p.Vulns == nil {
			return nil, &Error{File: name, Line: r.Line, Msg: fmt.Sprintf("rule %s uses vulnerable, but the policy names no vuln_db", r.Name)}
		}
	}
	return p, nil
}

func compileRule(fr fileRule, i int, bad func(key, format string, args ...any) error) (*Rule, error) {
	r := &Rule{Name: fr.Name, Reason: fr.Reason, DryRun: fr.DryRun,
		Retracted: fr.Retracted, Pseudo: fr.Pseudo, Incompatible: fr.Incompatible, Vulnerable: fr.Vulnerable}
	if r.Name == "" {
		r.Name = fmt.Sprintf("#%d", i+1)
	} else if strings.ContainsAny(r.Name, "\n\r\t\"") || len(r.Name) > 100 {
		return nil, bad("name", "%q: use a short name without quotes or control characters", r.Name)
	}
	switch fr.Action {
	case "allow":
		r.Allow = true
	case "deny":
		if r.Reason == "" {
			return nil, bad("reason", "a deny rule needs a reason: it is what the go command shows")
		}
	case "":
		return nil, bad("action", "missing: want \"allow\" or \"deny\"")
	default:
		return nil, bad("action", "%q: want \"allow\" or \"deny\"", fr.Action)
	}
	if strings.ContainsAny(r.Reason, "\n\r") {
		return nil, bad("reason", "must be one line")
	}
	if fr.Modules != nil {
		if len(fr.Modules) == 0 {
			return nil, bad("modules", "empty list matches nothing; omit the key to match every module")
		}
		for _, m := range fr.Modules {
			if err := checkPattern(m); err != nil {
				return nil, bad("modules", "%v", err)
			}
		}
		r.Modules = fr.Modules
	}
	if fr.Versions != nil {
		c, err := ParseConstraint(*fr.Versions)
		if err != nil {
			return nil, bad("versions", "%v", err)
		}
		r.Versions = c
	}
	if fr.Groups != nil {
		if len(fr.Groups) == 0 {
			return nil, bad("groups", "empty list matches nobody; omit the key to match everyone")
		}
		r.Groups = fr.Groups
	}
	if fr.MinAge != "" {
		d, err := time.ParseDuration(fr.MinAge)
		if err != nil || d <= 0 {
			return nil, bad("min_age", "%q is not a positive duration like 72h", fr.MinAge)
		}
		r.MinAge = d
	}
	if fr.MinSeverity != "" {
		if fr.Vulnerable == nil || !*fr.Vulnerable {
			return nil, bad("min_severity", "applies only with vulnerable = true")
		}
		r.MinSeverity = vulndb.ParseSeverity(fr.MinSeverity)
		if r.MinSeverity == vulndb.Unknown {
			return nil, bad("min_severity", "%q: want low, medium, high or critical", fr.MinSeverity)
		}
	}
	if fr.ModuleVersions != nil {
		r.ModuleVersions, r.listedModules = map[string]bool{}, map[string]bool{}
		for _, mv := range fr.ModuleVersions {
			path, vers, ok := strings.Cut(mv, "@")
			if !ok || module.CheckPath(path) != nil || !semver.IsValid(vers) || module.CanonicalVersion(vers) != vers {
				return nil, bad("module_versions", "%q is not module@version with a canonical version like v1.2.3", mv)
			}
			r.ModuleVersions[mv], r.listedModules[path] = true, true
		}
	}
	return r, nil
}

// checkPattern checks a GOPRIVATE-style module path pattern.
func checkPattern(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "..") || strings.ContainsAny(p, ", \t") {
		return fmt.Errorf("%q is not a module path pattern", p)
	}
	for _, elem := range strings.Split(p, "/") {
		// The syntax path.Match, which module.MatchPrefixPatterns uses, accepts.
		if _, err := path.Match(elem, "x"); err != nil {
			return fmt.Errorf("%q is not a module path pattern: %v", p, err)
		}
	}
	return nil
}

// Line finding. The TOML decoder does not expose positions for decoded
// keys, so semantic errors find their line by scanning the source: the
// n-th [[rule]] header, then the key's first line inside that table.

func ruleLine(src string, n int) int {
	count := -1
	for i, line := range strings.Split(src, "\n") {
		if isRuleHeader(line) {
			count++
			if count == n {
				return i + 1
			}
		}
	}
	return 0
}

func isRuleHeader(line string) bool {
	t := strings.TrimSpace(line)
	if !strings.HasPrefix(t, "[[") {
		return false
	}
	inner, _, _ := strings.Cut(strings.TrimPrefix(t, "[["), "]]")
	return strings.TrimSpace(inner) == "rule"
}

func ruleKeyLine(src string, n int, key string) int {
	start := ruleLine(src, n)
	if start == 0 {
		return 0
	}
	lines := strings.Split(src, "\n")
	for i := start; i < len(lines); i++ {
		t := strings.TrimSpace(lines[i])
		if strings.HasPrefix(t, "[") {
			break
		}
		if keyOf(t) == key {
			return i + 1
		}
	}
	return 0
}

func topKeyLine(src, key string) int {
	for i, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") {
			return 0
		}
		if keyOf(t) == key {
			return i + 1
		}
	}
	return 0
}

func keyOf(line string) string {
	k, _, ok := strings.Cut(line, "=")
	if !ok {
		return ""
	}
	return strings.Trim(strings.TrimSpace(k), `"'`)
}

// firstRuleKeyLine finds the first line, inside any [[rule]], that sets
// key: the decoder's undecoded keys carry no index into the array.
func firstRuleKeyLine(src, key string) int {
	inRule := false
	for i, line := range strings.Split(src, "\n") {
		t := strings.TrimSpace(line)
		if strings.HasPrefix(t, "[") {
			inRule = isRuleHeader(line)
			continue
		}
		if inRule && keyOf(t) == key {
			return i + 1
		}
	}
	return 0
}
