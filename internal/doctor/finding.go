// Package doctor audits a Go environment for supply-chain risks: the
// settings `go env` reports (and where each came from), the files they name
// (GOROOT, the module cache, .netrc), a module directory's go.mod and go.sum,
// and optionally a module proxy. Each finding names a check from Checks, says
// why it matters and how to fix it. Reporters live in doctor/report.
package doctor

import (
	"fmt"
	"strings"
)

// Severity orders findings; --fail-on compares against it.
type Severity int

const (
	Info Severity = iota
	Low
	Medium
	High
	Critical
)

var severityNames = [...]string{"info", "low", "medium", "high", "critical"}

func (s Severity) String() string {
	if s < Info || s > Critical {
		return fmt.Sprintf("severity(%d)", int(s))
	}
	return severityNames[s]
}

// ParseSeverity parses a severity name such as "high".
func ParseSeverity(s string) (Severity, error) {
	for i, n := range severityNames {
		if strings.EqualFold(s, n) {
			return Severity(i), nil
		}
	}
	return 0, fmt.Errorf("unknown severity %q (want %s)", s, strings.Join(severityNames[:], ", "))
}

func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Source says where a setting's value came from.
type Source string

const (
	FromEnvironment Source = "environment"   // the process environment
	FromGoEnvFile   Source = "go env file"   // the user's GOENV file (go env -w)
	FromGOROOT      Source = "GOROOT/go.env" // the toolchain's defaults file
	FromDefault     Source = "default"       // built into the go command
	FromFile        Source = "file"          // a file on disk (permissions, go.mod, ...)
	FromProxy       Source = "proxy"         // an answer of the --proxy server
)

// A Location points at where a finding lives: a file (and line), a go
// setting's name, or the proxy's URL.
type Location struct {
	Path    string `json:"path,omitempty"`
	Line    int    `json:"line,omitempty"`
	Setting string `json:"setting,omitempty"`
	URL     string `json:"url,omitempty"` // the --proxy server
}

// FixKind tells what a fix command changes; --fix --apply runs only GoEnvWrite.
type FixKind string

const (
	GoEnvWrite FixKind = "go-env-w" // go env -w KEY=VALUE: changes only the go env file
	Chmod      FixKind = "chmod"    // file modes or ownership
	Shell      FixKind = "shell"    // something to change in the shell or CI environment
	Edit       FixKind = "edit"     // a file to edit by hand
)

// A Fix is how to resolve one finding.
type Fix struct {
	Kind FixKind `json:"kind"`
	// Text says what to do, in words.
	Text string `json:"text"`
	// Command is the command line to run, shell-quoted, if there is one.
	Command string `json:"command,omitempty"`
	// Args is Command as an argument vector, for --apply (GoEnvWrite only).
	Args []string `json:"-"`
}

// A Finding is one problem found by one check.
type Finding struct {
	ID       string   `json:"id"`
	Name     string   `json:"name"`
	Severity Severity `json:"severity"`
	// Message is the one-line, specific statement of the problem; secrets
	// in values are redacted.
	Message string `json:"message"`
	// Explanation says why it matters.
	Explanation string   `json:"explanation"`
	Source      Source   `json:"source,omitempty"`
	Location    Location `json:"location"`
	Fix         *Fix     `json:"fix,omitempty"`
}

// A Check describes one kind of finding, for documentation and SARIF rules.
type Check struct {
	ID       string
	Name     string
	Severity Severity // the usual severity; some findings adjust it
	Title    string
	Why      string
	Fix      string
}

func (c Check) finding(msg string) Finding {
	return Finding{ID: c.ID, Name: c.Name, Severity: c.Severity, Message: msg, Explanation: c.Why}
}

// CheckByID returns the check with the given id.
func CheckByID(id string) (Check, bool) {
	for _, c := range Checks {
		if c.ID == id {
			return c, true
		}
	}
	return Check{}, false
}

// goEnvFix returns a fix that sets key in the go env file, or, when the bad
// value comes from the environment (where go env -w cannot override it), one
// that says to change the environment.
func goEnvFix(o Origin, key, value string) *Fix {
	if o.Source == FromEnvironment {
		if value == "" {
			return &Fix{Kind: Shell, Text: fmt.Sprintf("unset %s where it is set (shell profile, CI configuration); go env -w cannot override the environment", key),
				Command: "unset " + key}
		}
		return &Fix{Kind: Shell, Text: fmt.Sprintf("set %s=%s where it is set (shell profile, CI configuration); go env -w cannot override the environment", key, value),
			Command: "export " + shellQuote(key+"="+value)}
	}
	args := []string{"go", "env", "-w", key + "=" + value}
	text := fmt.Sprintf("set %s=%s in the go env file", key, value)
	if value == "" {
		text = fmt.Sprintf("clear %s in the go env file", key)
	}
	return &Fix{Kind: GoEnvWrite, Text: text, Command: shellJoin(args), Args: args}
}

// shellJoin quotes args for a POSIX shell.
func shellJoin(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_=./:,@+%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
