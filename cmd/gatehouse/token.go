package main

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
)

func init() {
	register(&command{
		name:    "token",
		summary: "create an access token for serve",
		run:     runToken,
	})
}

var tokenNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func runToken(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 || args[0] != "create" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(env.stdout, "Usage: gatehouse token create --name NAME [--group GROUP]...\n\nPrints a new random token once, and the [[token]] entry for serve's config\nfile, which holds only a hash of it. Run 'gatehouse token create --help'.")
			return 0
		}
		fmt.Fprintln(env.stderr, "gatehouse token: want 'gatehouse token create --name NAME [--group GROUP]...'")
		return 2
	}
	fs := newFlagSet(env, "token create", "token create --name NAME [--group GROUP]...\n\nPrints a new random token once (store it in the client's ~/.netrc or secret\nstore; it cannot be shown again) and the [[token]] entry to add to serve's\nconfig file, which holds only its SHA-256 hash. The groups decide which\nmodules the token may fetch ([[access]] rules).")
	name := fs.String("name", "", "`name` of the token's holder, shown in the audit log (e.g. ci-build)")
	var groups stringList
	fs.Var(&groups, "group", "`group` the token belongs to; repeat for several")
	if code := parseFlags(env, fs, args[1:]); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "gatehouse token create: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if !tokenNameRE.MatchString(*name) {
		fmt.Fprintln(env.stderr, "gatehouse token create: --name must be 1-64 letters, digits, '.', '_', '@' or '-'")
		return 2
	}
	for _, g := range groups {
		if !tokenNameRE.MatchString(g) {
			fmt.Fprintf(env.stderr, "gatehouse token create: group %q must be 1-64 letters, digits, '.', '_', '@' or '-'\n", g)
			return 2
		}
	}
	tok, hash, err := auth.NewToken()
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse token create: "+err.Error())
		return 1
	}
	quoted := make([]string, len(groups))
	for i, g := range groups {
		quoted[i] = strconv.Quote(g)
	}
	fmt.Fprintf(env.stdout, "%s\n\n# Add to serve's config file (the token above is shown only now):\n[[token]]\nname = %q\nhash = %q\ngroups = [%s]\n",
		tok, *name, hash, strings.Join(quoted, ", "))
	return 0
}
