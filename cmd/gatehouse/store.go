package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/gatehouse-dev/gatehouse/internal/airgap"
	"github.com/gatehouse-dev/gatehouse/internal/datalock"
)

func init() {
	register(&command{name: "store", summary: "look after a store: ls its module versions, du their sizes, gc old ones", run: runStore})
}

func runStore(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "store", "store ls|du|gc [--data DIR] [PATTERN...]\n\n"+
		"ls lists the stored module versions matching the PATTERNs (GOPRIVATE-style;\n"+
		"none: all): path, version, bytes, when stored, and \"mod-only\" for versions whose\n"+
		"go.mod alone is stored. du sums bytes per module and in all. gc removes old\n"+
		"versions; run 'gatehouse store gc --help'.")
	data := fs.String("data", "./gatehouse-data", "store `directory`")
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if code := parseFlags(env, fs, args); code >= 0 {
			return code
		}
		fmt.Fprintln(env.stderr, "gatehouse store: want ls, du or gc; run 'gatehouse store --help'")
		return 2
	}
	sub := args[0]
	if sub == "gc" {
		return runStoreGC(ctx, env, args[1:])
	}
	if code := parseFlags(env, fs, args[1:]); code >= 0 {
		return code
	}
	if sub != "ls" && sub != "du" {
		fmt.Fprintf(env.stderr, "gatehouse store: unknown subcommand %q: want ls, du or gc\n", sub)
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

// manifestList collects repeated --keep flags.
type manifestList []string

func (m *manifestList) String() string     { return strings.Join(*m, ",") }
func (m *manifestList) Set(s string) error { *m = append(*m, s); return nil }

func runStoreGC(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "store gc", "store gc [--data DIR] [--older-than DURATION] [--max-size BYTES] [--keep MANIFEST]... [--pinned-too] [--dry-run]\n\n"+
		"Removes module versions (their .info, .mod and .zip) stored longer ago than\n"+
		"--older-than, then the oldest stored until the store is under --max-size.\n"+
		"Versions an export manifest given with --keep lists are never removed, unless\n"+
		"--pinned-too. Clients asking for a removed version get it fetched again (online)\n"+
		"or a 404 (serve --offline).")
	data := fs.String("data", "./gatehouse-data", "store `directory`")
	olderThan := fs.Duration("older-than", 0, "remove versions stored longer ago than this `duration`; 0: none by age")
	maxSize := fs.Int64("max-size", 0, "then remove the oldest stored until the versions take at most this many `bytes`; 0: no quota")
	var keep manifestList
	fs.Var(&keep, "keep", "export `manifest` whose versions are kept (repeatable)")
	pinnedToo := fs.Bool("pinned-too", false, "remove versions the --keep manifests list as well")
	dryRun := fs.Bool("dry-run", false, "print what would be removed, remove nothing")
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(env.stderr, "gatehouse store gc: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if *olderThan <= 0 && *maxSize <= 0 {
		fmt.Fprintln(env.stderr, "gatehouse store gc: give --older-than or --max-size (or both)")
		return 2
	}
	if !*dryRun {
		lock, err := datalock.Acquire(*data)
		if err != nil {
			fmt.Fprintf(env.stderr, "gatehouse store gc: %v\n", err)
			return 1
		}
		defer lock.Release()
	}
	pinned := map[string]bool{}
	for _, f := range keep {
		m, err := airgap.ReadManifest(f)
		if err != nil {
			fmt.Fprintf(env.stderr, "gatehouse store gc: --keep: %v\n", err)
			return 2
		}
		for _, mv := range m.Modules {
			pinned[mv.Path+"@"+mv.Version] = true
		}
	}
	vs, err := airgap.List(*data)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse store gc: %v\n", err)
		return 1
	}
	// Oldest stored first: the order both rules remove in.
	sort.SliceStable(vs, func(i, j int) bool { return vs[i].Stored.Before(vs[j].Stored) })
	var total int64
	for _, v := range vs {
		total += v.Bytes
	}
	cutoff := time.Now().Add(-*olderThan)
	var removed []airgap.Stored
	var freed int64
	for _, v := range vs {
		old := *olderThan > 0 && v.Stored.Before(cutoff)
		over := *maxSize > 0 && total-freed > *maxSize
		if !old && !over {
			continue
		}
		if pinned[v.Path+"@"+v.Version] && !*pinnedToo {
			continue
		}
		removed = append(removed, v)
		freed += v.Bytes
	}
	verb := "removed"
	if *dryRun {
		verb = "would remove"
	}
	for _, v := range removed {
		if !*dryRun {
			if err := airgap.Remove(ctx, *data, v.Path, v.Version); err != nil {
				fmt.Fprintf(env.stderr, "gatehouse store gc: %v\n", err)
				return 1
			}
		}
		fmt.Fprintf(env.stdout, "%s %s@%s (%d bytes)\n", verb, v.Path, v.Version, v.Bytes)
	}
	fmt.Fprintf(env.stdout, "%s %d module versions, %s; %s left\n", verb, len(removed), airgap.FormatBytes(freed), airgap.FormatBytes(total-freed))
	if *maxSize > 0 && total-freed > *maxSize {
		fmt.Fprintf(env.stderr, "gatehouse store gc: still over --max-size: what is left is pinned by --keep\n")
	}
	return 0
}
