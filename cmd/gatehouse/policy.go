package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
)

func init() {
	register(&command{
		name:    "policy",
		summary: "check a supply-chain policy file, or explain its decision for module@version",
		run:     runPolicy,
	})
}

const policyUsage = `policy check FILE
       gatehouse policy explain [flags] MODULE@VERSION

check     validates a policy file; errors name the line.
explain   prints the decision for MODULE@VERSION and the rule that made it,
          offline, from the policy file serve uses. Conditions that need the
          server's data (min_age, retracted) are evaluated only when given
          with --published/--age and --retracted; otherwise explain says so.

Run 'gatehouse policy explain --help' for its flags. See docs/policy.md.`

func runPolicy(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 {
		fmt.Fprintf(env.stderr, "Usage: gatehouse %s\n", policyUsage)
		return 2
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		fmt.Fprintf(env.stdout, "Usage: gatehouse %s\n", policyUsage)
		return 0
	case "check":
		return runPolicyCheck(env, args[1:])
	case "explain":
		return runPolicyExplain(ctx, env, args[1:])
	}
	fmt.Fprintf(env.stderr, "gatehouse policy: unknown subcommand %q: want check or explain\n", args[0])
	return 2
}

func runPolicyCheck(env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "policy check", "policy check FILE\n\nValidates a policy file and its vulnerability database; errors name the line.\nExit status 0: valid, 1: invalid, 2: usage.")
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.stderr, "gatehouse policy check: give exactly one FILE")
		return 2
	}
	p, err := policy.Load(fs.Arg(0))
	if err != nil {
		fmt.Fprintln(env.stderr, err)
		return 1
	}
	fmt.Fprintf(env.stdout, "%s: ok: %d rules, default %s%s%s\n", p.File, len(p.Rules), defaultWord(p),
		map[bool]string{true: ", dry run"}[p.DryRun], vulnWord(p))
	return 0
}

func defaultWord(p *policy.Policy) string {
	if p.DefaultAllow {
		return "allow"
	}
	return "deny"
}

func vulnWord(p *policy.Policy) string {
	if p.Vulns == nil {
		return ""
	}
	return fmt.Sprintf(", vuln_db %s (%d entries)", p.VulnDBDir, p.Vulns.Len())
}

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// optBool is a bool flag that remembers whether it was given.
type optBool struct {
	set, v bool
}

func (b *optBool) String() string   { return fmt.Sprint(b.v) }
func (b *optBool) IsBoolFlag() bool { return true }
func (b *optBool) Set(s string) error {
	var f config.Bool
	if err := f.Set(s); err != nil {
		return err
	}
	b.set, b.v = true, bool(f)
	return nil
}

func runPolicyExplain(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "policy explain", "policy explain [flags] MODULE@VERSION\n\n"+
		"Prints the decision of the policy for MODULE@VERSION and the rule that made it.\n"+
		"The policy file is --policy, else GATEHOUSE_POLICY, else the policy key of the\n"+
		"serve config (--config or GATEHOUSE_CONFIG). Exit status 0: allowed (or only\n"+
		"would be denied, in dry run), 1: denied, 2: usage or a bad policy.")
	file := fs.String("policy", "", "policy `file`")
	configFile := fs.String("config", "", "serve config `file` whose policy key names the policy")
	var groups listFlag
	fs.Var(&groups, "group", "explain for a caller in `group` (repeatable, or comma-separated)")
	published := fs.String("published", "", "publish `time` of the version (RFC 3339, as in its .info), for min_age")
	age := fs.Duration("age", 0, "age of the version (`duration`), for min_age; instead of --published")
	var retracted optBool
	fs.Var(&retracted, "retracted", "whether the module's latest go.mod retracts the version (true/false), for retracted")
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.stderr, "gatehouse policy explain: give exactly one MODULE@VERSION")
		return 2
	}
	modPath, version, ok := strings.Cut(fs.Arg(0), "@")
	if !ok || module.CheckPath(modPath) != nil || !semver.IsValid(version) || module.CanonicalVersion(version) != version {
		fmt.Fprintf(env.stderr, "gatehouse policy explain: %q is not MODULE@VERSION with a canonical version like v1.2.3\n", fs.Arg(0))
		return 2
	}
	facts := &explainFacts{retracted: retracted}
	switch {
	case *published != "" && *age != 0:
		fmt.Fprintln(env.stderr, "gatehouse policy explain: give --published or --age, not both")
		return 2
	case *published != "":
		t, err := time.Parse(time.RFC3339, *published)
		if err != nil {
			fmt.Fprintf(env.stderr, "gatehouse policy explain: --published %q is not an RFC 3339 time like 2024-05-01T12:00:00Z\n", *published)
			return 2
		}
		facts.published = &t
	case *age != 0:
		t := time.Now().Add(-*age)
		facts.published = &t
	}
	name, err := policyFile(env, *file, *configFile)
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse policy explain: "+err.Error())
		return 2
	}
	p, err := policy.Load(name)
	if err != nil {
		fmt.Fprintln(env.stderr, err)
		return 2
	}
	var id *auth.Identity
	if len(groups) > 0 {
		id = &auth.Identity{Name: "explain", Method: "explain", Groups: groups}
	}
	d, err := p.Decide(ctx, facts, id, modPath, version)
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse policy explain: "+err.Error())
		return 2
	}
	printExplanation(env.stdout, p, d, fs.Arg(0), groups)
	if d.Enforced() {
		return 1
	}
	return 0
}

// policyFile finds the policy file as serve would.
func policyFile(env *cmdEnv, file, configFile string) (string, error) {
	if file != "" {
		return file, nil
	}
	cfg := config.DefaultServe()
	fs := flag.NewFlagSet("config", flag.ContinueOnError)
	if err := config.Load(fs, cfg.Keys(), configFile, cfg, env.getenv); err != nil {
		return "", err
	}
	if cfg.Policy == "" {
		return "", fmt.Errorf("no policy file: give --policy FILE, set GATEHOUSE_POLICY, or name one in the serve config")
	}
	return string(cfg.Policy), nil
}

func printExplanation(w io.Writer, p *policy.Policy, d policy.Decision, target string, groups []string) {
	who := "a caller in no group"
	if len(groups) > 0 {
		who = "a caller in group " + strings.Join(groups, ", ")
	}
	fmt.Fprintf(w, "%s for %s: %s\n", target, who, strings.ToUpper(d.Action()))
	if d.Rule == "default" {
		fmt.Fprintf(w, "rule:   none matched; the default applies (%s)\n", p.File)
	} else {
		fmt.Fprintf(w, "rule:   %s (%s:%d)\n", d.Rule, p.File, d.Line)
	}
	if d.Spelling != "" {
		fmt.Fprintf(w, "as:     %s (another spelling of the module's repository, which the rule names)\n", d.Spelling)
	}
	if d.Reason != "" {
		fmt.Fprintf(w, "reason: %s\n", d.Reason)
	}
	if d.Detail != "" {
		fmt.Fprintf(w, "found:  %s\n", d.Detail)
	}
	if d.DryRun {
		fmt.Fprintln(w, "dry run: serve logs this as would-deny and lets the request through")
	}
	if len(d.Unknown) > 0 {
		fmt.Fprintln(w, "not evaluated offline (those rules were skipped; the server may decide differently):")
		for _, u := range d.Unknown {
			fmt.Fprintf(w, "  %s\n", u)
		}
	}
}

// explainFacts are the facts given on the command line; the rest are
// unknown offline.
type explainFacts struct {
	published *time.Time
	retracted optBool
}

func (f *explainFacts) Published(ctx context.Context, modPath, version string) (time.Time, error) {
	if f.published == nil {
		return time.Time{}, fmt.Errorf("%w offline (give --published or --age)", policy.ErrUnknown)
	}
	return *f.published, nil
}

func (f *explainFacts) Aliases(ctx context.Context, modPath, pseudo string) ([]string, error) {
	return nil, fmt.Errorf("%w offline (the server reads the tags' commits)", policy.ErrUnknown)
}

func (f *explainFacts) Retracted(ctx context.Context, modPath, version string) (bool, string, error) {
	if !f.retracted.set {
		return false, "", fmt.Errorf("%w offline (give --retracted=true or --retracted=false)", policy.ErrUnknown)
	}
	return f.retracted.v, "", nil
}
