// Package report writes a doctor.Report as human text, JSON (a versioned
// schema) or SARIF 2.1.0, and prints the commands that fix its findings.
package report

import (
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/doctor"
)

// ANSI colours per severity, used only when the caller says the output is
// a terminal.
var colours = map[doctor.Severity]string{
	doctor.Critical: "\x1b[1;31m",
	doctor.High:     "\x1b[31m",
	doctor.Medium:   "\x1b[33m",
	doctor.Low:      "\x1b[36m",
	doctor.Info:     "\x1b[2m",
}

const reset = "\x1b[0m"

// Text writes the report for people.
func Text(w io.Writer, r *doctor.Report, colour bool) error {
	ew := &errWriter{w: w}
	ew.printf("gatehouse doctor: %s, GOROOT %s, GOENV %s\n", r.GoVersion, r.GOROOT, r.GOENV)
	if r.ModuleDir != "" {
		ew.printf("module: %s\n", r.ModuleDir)
	}
	if r.Proxy != "" {
		ew.printf("proxy: %s\n", r.Proxy)
	}
	if r.Native != nil {
		nativeText(ew, r.Native)
	}
	for _, f := range r.Findings {
		label := fmt.Sprintf("%-8s", strings.ToUpper(f.Severity.String()))
		if colour {
			label = colours[f.Severity] + label + reset
		}
		ew.printf("\n%s %s %s\n", label, f.ID, f.Name)
		ew.printf("  %s\n", f.Message)
		if from := From(f); from != "" {
			ew.printf("  from: %s\n", from)
		}
		ew.printf("  why:  %s\n", f.Explanation)
		if f.Fix != nil {
			if f.Fix.Command != "" {
				ew.printf("  fix:  %s\n", f.Fix.Command)
				if f.Fix.Kind == doctor.Shell {
					ew.printf("        (%s)\n", f.Fix.Text)
				}
			} else {
				ew.printf("  fix:  %s\n", f.Fix.Text)
			}
		}
	}
	ew.printf("\n%s\n", Summary(r))
	return ew.err
}

// nativeText lists the build list's native code, grouped by module.
func nativeText(ew *errWriter, n *doctor.NativeReport) {
	ew.printf("\nbuild list of %s (CGO_ENABLED=%s, %s/%s): cgo, unsafe, //go:linkname, assembly\n",
		strings.Join(n.Patterns, " "), n.CGOEnabled, n.GOOS, n.GOARCH)
	if len(n.Modules) == 0 {
		ew.printf("  none outside the standard library\n")
	}
	for _, m := range n.Modules {
		id := m.ID()
		if m.Main {
			id += " (main module)"
		}
		if m.Replace != "" {
			id += " => " + m.Replace
		}
		ew.printf("  %s\n", id)
		for _, p := range m.Packages {
			var uses []string
			for _, u := range p.Uses {
				where := u.Path
				if u.Line > 0 {
					where = fmt.Sprintf("%s:%d", u.Path, u.Line)
				}
				uses = append(uses, fmt.Sprintf("%s (%s)", u.Kind, where))
			}
			ew.printf("    %s: %s\n", p.ImportPath, strings.Join(uses, ", "))
		}
	}
}

// From says where a finding came from, in words.
func From(f doctor.Finding) string {
	l := f.Location
	where := l.Path
	if where != "" && l.Line > 0 {
		where = fmt.Sprintf("%s:%d", where, l.Line)
	}
	switch f.Source {
	case doctor.FromEnvironment:
		return fmt.Sprintf("environment variable %s", l.Setting)
	case doctor.FromGoEnvFile, doctor.FromGOROOT:
		return fmt.Sprintf("%s, %s", f.Source, where)
	case doctor.FromDefault:
		return "the go command's default"
	case doctor.FromProxy:
		return "proxy " + l.URL
	}
	return where
}

// Summary is the one-line count of findings by severity.
func Summary(r *doctor.Report) string {
	if len(r.Findings) == 0 {
		return "no findings"
	}
	counts := Counts(r)
	var parts []string
	for s := doctor.Critical; s >= doctor.Info; s-- {
		if n := counts[s.String()]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	noun := "findings"
	if len(r.Findings) == 1 {
		noun = "finding"
	}
	return fmt.Sprintf("%d %s: %s", len(r.Findings), noun, strings.Join(parts, ", "))
}

// Counts returns the number of findings per severity name.
func Counts(r *doctor.Report) map[string]int {
	m := map[string]int{}
	for _, f := range r.Findings {
		m[f.Severity.String()]++
	}
	return m
}

// FixScript writes the commands that would fix each finding, as a shell
// script whose comments say which finding each command is for. Commands
// that are not go env -w are printed too; fixes with no command are
// comments.
func FixScript(w io.Writer, r *doctor.Report) error {
	ew := &errWriter{w: w}
	ew.printf("# gatehouse doctor --fix: the commands that fix the findings below.\n")
	ew.printf("# --fix alone changes nothing; --fix --apply runs only the go env -w ones.\n")
	if len(r.Findings) == 0 {
		ew.printf("# no findings\n")
		return ew.err
	}
	seen := map[string]bool{}
	for _, f := range r.Findings {
		ew.printf("\n# %s %s %s: %s\n", strings.ToUpper(f.Severity.String()), f.ID, f.Name, f.Message)
		switch {
		case f.Fix == nil:
			ew.printf("# (no command: see the explanation in docs/doctor.md)\n")
		case f.Fix.Command == "":
			ew.printf("# %s\n", f.Fix.Text)
		case seen[f.Fix.Command]:
			ew.printf("# (same command as above)\n")
		case f.Fix.Kind == doctor.Edit:
			ew.printf("# %s:\n# %s\n", f.Fix.Text, f.Fix.Command)
		default:
			if f.Fix.Kind == doctor.Shell {
				ew.printf("# %s\n", f.Fix.Text)
			}
			ew.printf("%s\n", f.Fix.Command)
		}
		if f.Fix != nil && f.Fix.Command != "" {
			seen[f.Fix.Command] = true
		}
	}
	if _, conflicts := doctor.GoEnvWrites(r.Findings); len(conflicts) > 0 {
		ew.printf("\n# findings propose different values for %s: choose one; --apply leaves it alone\n", strings.Join(conflicts, ", "))
	}
	return ew.err
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err == nil {
		_, e.err = fmt.Fprintf(e.w, format, args...)
	}
}
