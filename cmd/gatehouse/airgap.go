package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/gatehouse-dev/gatehouse/internal/airgap"
	"github.com/gatehouse-dev/gatehouse/internal/atomicfile"
	"github.com/gatehouse-dev/gatehouse/internal/datalock"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

func init() {
	register(&command{name: "export", summary: "write stored modules and their checksum-database proofs to one bundle file", run: runExport})
	register(&command{name: "import", summary: "check a bundle from export and, if all of it verifies, add it to a store", run: runImport})
}

// sumDBKey maps a known database name to its verifier key.
func sumDBKey(s string) string {
	if k, ok := verify.KnownKeys[s]; ok {
		return k
	}
	return s
}

// newProgress reports on stderr: a redrawn bar on a terminal, plain lines
// otherwise, JSON events with --json.
func newProgress(env *cmdEnv, asJSON bool) *airgap.Progress {
	p := &airgap.Progress{W: env.stderr, JSON: asJSON}
	if asJSON {
		p.W = env.stdout
	}
	if f, ok := env.stderr.(*os.File); ok && !asJSON {
		p.Terminal = term.IsTerminal(int(f.Fd()))
	}
	return p
}

// parseSince takes an RFC 3339 time or a duration back from now ("72h").
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return time.Now().Add(-d), nil
	}
	return time.Parse(time.RFC3339, s)
}

func runExport(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "export", "export [--data DIR] [--since TIME] [--not-in MANIFEST] [--gzip] -o FILE [PATTERN...]\n\n"+
		"Writes the stored module versions matching the PATTERNs (GOPRIVATE-style; none: all)\n"+
		"and the checksum-database proof of each into one tar file, and its manifest to\n"+
		"FILE.manifest.json. See docs/air-gap.md.")
	data := fs.String("data", "./gatehouse-data", "store `directory`")
	sumdbKey := fs.String("sumdb", "sum.golang.org", "checksum database the store verified against (name or verifier `key`)")
	sumdbURL := fs.String("sumdb-url", "", "where to fetch tiles a proof needs that the store lacks (`URL` of the database); empty: none")
	since := fs.String("since", "", "only versions stored after `TIME` (RFC 3339, or a duration back from now such as 72h)")
	notIn := fs.String("not-in", "", "only files not in this earlier export's `MANIFEST`")
	out := fs.String("o", "", "bundle `file` to write")
	gz := fs.Bool("gzip", false, "gzip-compress the bundle")
	asJSON := fs.Bool("json", false, "progress and summary as JSON lines on stdout")
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if *out == "" {
		fmt.Fprintln(env.stderr, "gatehouse export: -o FILE is required")
		return 2
	}
	t, err := parseSince(*since)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse export: --since: %v\n", err)
		return 2
	}
	opts := airgap.ExportOptions{Data: *data, SumDBKey: sumDBKey(*sumdbKey), SumDBURL: *sumdbURL, Since: t,
		Patterns: fs.Args(), Gzip: *gz, Progress: newProgress(env, *asJSON)}
	if *notIn != "" {
		if opts.NotIn, err = airgap.ReadManifest(*notIn); err != nil {
			fmt.Fprintf(env.stderr, "gatehouse export: --not-in: %v\n", err)
			return 2
		}
	}
	// Written aside and renamed: a failed export leaves no bundle.
	f, err := os.CreateTemp(filepath.Dir(*out), ".export-*")
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse export: %v\n", err)
		return 1
	}
	defer os.Remove(f.Name())
	start := time.Now()
	man, rep, err := airgap.Export(ctx, f, opts)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), *out)
	}
	if err == nil {
		mj, _ := json.MarshalIndent(man, "", "\t")
		err = atomicfile.Write(*out+".manifest.json", mj, 0o644)
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse export: %v\n", err)
		return 1
	}
	st, _ := os.Stat(*out)
	secs := time.Since(start).Seconds()
	if *asJSON {
		writeJSONLine(env.stdout, map[string]any{"event": "summary", "op": "export", "modules": rep.Modules, "files": rep.Files,
			"bytes": rep.Bytes, "bundle_bytes": st.Size(), "skipped": rep.Skipped, "tree_size": man.Tree.Size, "seconds": secs})
		return 0
	}
	for _, s := range rep.Skipped {
		fmt.Fprintln(env.stderr, "skipped "+s)
	}
	fmt.Fprintf(env.stdout, "exported %d module versions (%d files, %s; bundle %s) to %s in %.1fs; %d skipped; tree size %d\n",
		rep.Modules, rep.Files, airgap.FormatBytes(rep.Bytes), airgap.FormatBytes(st.Size()), *out, secs, len(rep.Skipped), man.Tree.Size)
	return 0
}

func runImport(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "import", "import [--data DIR] [--sumdb-key KEY] FILE\n\n"+
		"Checks every file of a bundle from export (manifest hashes, each zip's and go.mod's\n"+
		"hash against its checksum-database record, the record's inclusion in the signed\n"+
		"tree, the tree's signature, its consistency with the tree the store trusts) and\n"+
		"only then adds it to the store. See docs/air-gap.md.")
	data := fs.String("data", "./gatehouse-data", "store `directory`")
	key := fs.String("sumdb-key", "sum.golang.org", "checksum database `key` the bundle's tree head must be signed with (a known name or name+hash+key)")
	asJSON := fs.Bool("json", false, "progress and summary as JSON lines on stdout")
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.stderr, "gatehouse import: want one bundle FILE")
		return 2
	}
	if !strings.Contains(sumDBKey(*key), "+") {
		fmt.Fprintf(env.stderr, "gatehouse import: --sumdb-key %q: no verifier key known; give name+hash+key\n", *key)
		return 2
	}
	// The store and its trusted tree head change: not under a running serve.
	lock, err := datalock.Acquire(*data)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse import: %v\n", err)
		return 1
	}
	defer lock.Release()
	f, err := os.Open(fs.Arg(0))
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse import: %v\n", err)
		return 1
	}
	defer f.Close()
	start := time.Now()
	rep, err := airgap.Import(ctx, f, airgap.ImportOptions{Data: *data, SumDBKey: sumDBKey(*key), Progress: newProgress(env, *asJSON)})
	if err != nil {
		var bad *airgap.BadBundleError
		if *asJSON {
			e := map[string]any{"event": "error", "op": "import", "error": err.Error()}
			if errors.As(err, &bad) {
				e["entry"] = bad.Entry
			}
			writeJSONLine(env.stdout, e)
		}
		fmt.Fprintf(env.stderr, "gatehouse import: %v\n", err)
		return 1
	}
	secs := time.Since(start).Seconds()
	if *asJSON {
		writeJSONLine(env.stdout, map[string]any{"event": "summary", "op": "import", "modules": rep.Modules, "files": rep.Files, "bytes": rep.Bytes, "tree_size": rep.TreeSize, "seconds": secs})
		return 0
	}
	fmt.Fprintf(env.stdout, "imported %d module versions (%d files, %s) in %.1fs; trusted tree size %d\n",
		rep.Modules, rep.Files, airgap.FormatBytes(rep.Bytes), secs, rep.TreeSize)
	return 0
}

func writeJSONLine(w io.Writer, v any) {
	b, _ := json.Marshal(v)
	w.Write(append(b, '\n'))
}
