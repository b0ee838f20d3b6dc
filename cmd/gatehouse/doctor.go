package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/gatehouse-dev/gatehouse/internal/doctor"
	"github.com/gatehouse-dev/gatehouse/internal/doctor/report"
)

func init() {
	register(&command{
		name:    "doctor",
		summary: "audit a Go environment for supply-chain risks",
		run:     runDoctor,
	})
}

const doctorSynopsis = `doctor [flags]

Audits the Go environment (go env, and where each setting came from; GOROOT,
the module cache and .netrc permissions; proxy and git settings left in shell
start-up files, git config and .curlrc), optionally a module directory (with
--cgo-unsafe or --deny, also the cgo, unsafe, //go:linkname and assembly in
its build list) and a module proxy, for supply-chain risks. Each finding has an id, a severity, why
it matters and how to fix it; docs/doctor.md lists every check.

Exit status: 0 no findings at or above --fail-on, 3 findings at or above it,
1 doctor could not run, 2 bad flags.`

// Exit codes of doctor beyond 0, 1 and 2.
const exitFindings = 3

func runDoctor(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "doctor", doctorSynopsis)
	format := fs.String("format", "text", "output format: text, json or sarif")
	failOn := fs.String("fail-on", "high", "exit 3 if a finding is at least this severe: info, low, medium, high, critical")
	moduleDir := fs.String("module", "", "also check the module in this directory (go.mod, go.sum, go mod verify)")
	proxy := fs.String("proxy", "", "also check this GOPROXY URL: it answers, serves the checksum database, and a known module's hashes match it")
	known := fs.String("known-module", doctor.DefaultKnownModule, "the module@version checked through --proxy")
	expectProxy := fs.Bool("expect-proxy", false, "report a direct fallback in GOPROXY (implied by --proxy)")
	fix := fs.Bool("fix", false, "print the commands that fix the findings instead of the report; changes nothing")
	apply := fs.Bool("apply", false, "with --fix: run the go env -w fixes (only those), then check again")
	goCmd := fs.String("go", "go", "the go command to audit")
	cgoUnsafe := fs.Bool("cgo-unsafe", false, "with --module: list the packages of the build list that use cgo, unsafe, //go:linkname or assembly, grouped by module (from go list -deps, offline; nothing is built or run)")
	packages := fs.String("packages", "./...", "with --cgo-unsafe or --deny: the package patterns whose build list is listed, space-separated")
	var denyFlags stringList
	fs.Var(&denyFlags, "deny", "with --module: a finding (GH050) for each package of the build list using these kinds in modules matching the patterns: KINDS[:PATTERNS], kinds from cgo,unsafe,linkname,asm, patterns as in GOPRIVATE (none: every module); repeatable; implies --cgo-unsafe")
	root := fs.String("root", "/", "read the shell start-up files (etc/profile, etc/profile.d, etc/environment) and git's system config (etc/gitconfig) under this directory, e.g. a mounted image; HOME's files come from $HOME")
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	usageErr := func(msg string) int {
		fmt.Fprintln(env.stderr, "gatehouse doctor: "+msg)
		return 2
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Sprintf("unexpected argument %q (a module directory goes in --module)", fs.Arg(0)))
	}
	threshold, err := doctor.ParseSeverity(*failOn)
	if err != nil {
		return usageErr("--fail-on: " + err.Error())
	}
	switch *format {
	case "text", "json", "sarif":
	default:
		return usageErr(fmt.Sprintf("--format %q: want text, json or sarif", *format))
	}
	var deny []doctor.DenyRule
	for _, d := range denyFlags {
		rule, err := doctor.ParseDenyRule(d)
		if err != nil {
			return usageErr("--deny: " + err.Error())
		}
		deny = append(deny, rule)
	}
	if (*cgoUnsafe || len(deny) > 0) && *moduleDir == "" {
		return usageErr("--cgo-unsafe and --deny check a module's build list: give --module")
	}
	if *apply && !*fix {
		return usageErr("--apply only goes with --fix")
	}
	if *fix && *format != "text" {
		return usageErr("--fix prints commands; the json and sarif reports carry each fix already")
	}

	environ := os.Environ
	if env.environ != nil {
		environ = env.environ
	}
	opts := doctor.Options{
		Go: *goCmd, Environ: environ(), ModuleDir: *moduleDir, Proxy: *proxy,
		KnownModule: *known, ExpectProxy: *expectProxy, Root: *root,
		BuildList: *cgoUnsafe, Packages: strings.Fields(*packages), Deny: deny,
	}
	r, err := doctor.Run(ctx, opts)
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse doctor: "+err.Error())
		return 1
	}
	r.ToolVersion = buildVersion()

	switch {
	case *fix && *apply:
		for _, a := range doctor.Apply(ctx, opts.Go, opts.Environ, r.Findings) {
			if a.Err != nil {
				fmt.Fprintf(env.stdout, "failed:  %s: %v\n", a.Command, a.Err)
			} else {
				fmt.Fprintf(env.stdout, "applied: %s\n", a.Command)
			}
		}
		if _, conflicts := doctor.GoEnvWrites(r.Findings); len(conflicts) > 0 {
			fmt.Fprintf(env.stdout, "left alone: findings propose different values for %v\n", conflicts)
		}
		// Check again: what remains decides the exit status.
		if r, err = doctor.Run(ctx, opts); err != nil {
			fmt.Fprintln(env.stderr, "gatehouse doctor: "+err.Error())
			return 1
		}
		r.ToolVersion = buildVersion()
		fmt.Fprintf(env.stdout, "\nremaining (not changed by --apply):\n\n")
		err = report.FixScript(env.stdout, r)
	case *fix:
		err = report.FixScript(env.stdout, r)
	case *format == "json":
		err = report.JSON(env.stdout, r)
	case *format == "sarif":
		err = report.SARIF(env.stdout, r)
	default:
		err = report.Text(env.stdout, r, useColour(env))
	}
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse doctor: writing the report: "+err.Error())
		return 1
	}
	if worst, ok := r.Worst(); ok && worst >= threshold {
		return exitFindings
	}
	return 0
}

// useColour reports whether text output may use colour: only on a terminal,
// and never when NO_COLOR is set (https://no-color.org).
func useColour(env *cmdEnv) bool {
	if env.getenv("NO_COLOR") != "" || env.getenv("TERM") == "dumb" {
		return false
	}
	return isTerminal(env.stdout)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
