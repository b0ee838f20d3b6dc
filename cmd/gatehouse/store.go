package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/gatehouse-dev/gatehouse/internal/airgap"
)

func init() {
	register(&command{name: "store", summary: "look into a store: ls its module versions, du their sizes", run: runStore})
}

func runStore(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "store", "store ls|du [--data DIR] [PATTERN...]\n\n"+
		"ls lists the stored module versions matching the PATTERNs (GOPRIVATE-style;\n"+
		"none: all): path, version, bytes, when stored, and \"mod-only\" for versions whose\n"+
		"go.mod alone is stored. du sums bytes per module and in all.")
	data := fs.String("data", "./gatehouse-data", "store `directory`")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if code := parseFlags(env, fs, args); code >= 0 {
			return code
		}
		fmt.Fprintln(env.stderr, "gatehouse store: want ls or du; run 'gatehouse store --help'")
		return 2
	}
	sub := args[0]
	if code := parseFlags(env, fs, args[1:]); code >= 0 {
		return code
	}
	if sub != "ls" && sub != "du" {
		fmt.Fprintf(env.stderr, "gatehouse store: unknown subcommand %q: want ls or du\n", sub)
		return 2
	}
	vs, err := airgap.List(*data)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse store: %v\n", err)
		return 1
	}
	pat := strings.Join(fs.Args(), ",")
	per := map[string]int64{}
	var total int64
	var n int
	for _, v := range vs {
		if pat != "" && !module.MatchPrefixPatterns(pat, v.Path) {
			continue
		}
		n++
		total += v.Bytes
		per[v.Path] += v.Bytes
		if sub == "ls" {
			kind := ""
			if !v.Zip {
				kind = "\tmod-only"
			}
			fmt.Fprintf(env.stdout, "%s\t%s\t%d\t%s%s\n", v.Path, v.Version, v.Bytes, v.Stored.UTC().Format(time.RFC3339), kind)
		}
	}
	if sub == "du" {
		paths := make([]string, 0, len(per))
		for p := range per {
			paths = append(paths, p)
		}
		sort.Strings(paths)
		for _, p := range paths {
			fmt.Fprintf(env.stdout, "%d\t%s\n", per[p], p)
		}
		fmt.Fprintf(env.stdout, "%d\ttotal (%s, %d module versions)\n", total, airgap.FormatBytes(total), n)
	}
	return 0
}
