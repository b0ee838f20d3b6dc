package main

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
)

func init() {
	register(&command{
		name:    "audit",
		summary: "verify the hash chain of audit log files",
		run:     runAudit,
	})
}

func runAudit(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 || args[0] != "verify" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(env.stdout, "Usage: gatehouse audit verify FILE...\n\nChecks the hash chain of audit log files. Run 'gatehouse audit verify --help'.")
			return 0
		}
		fmt.Fprintln(env.stderr, "gatehouse audit: want 'gatehouse audit verify FILE...'")
		return 2
	}
	fs := newFlagSet(env, "audit verify", "audit verify FILE...\n\nChecks that audit log files form one unbroken hash chain: no line edited,\nremoved, added or reordered. Give the current file and its rotated ones in\nany order (audit.log*). Prints the first bad line as FILE:LINE and exits 1.\nOn success, prints the last record's hash: compare it with a copy kept\nelsewhere to detect lines cut from the end.")
	if code := parseFlags(env, fs, args[1:]); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(env.stderr, "gatehouse audit verify: name at least one audit log file")
		return 2
	}
	s, err := audit.Verify(fs.Args()...)
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse audit verify: FAILED: "+err.Error())
		return 1
	}
	fmt.Fprintf(env.stdout, "ok: %d records in %d files, seq %d..%d, last hash %s\n", s.Records, s.Files, s.FirstSeq, s.LastSeq, s.LastHash)
	if s.FirstSeq != 1 {
		fmt.Fprintf(env.stdout, "note: the chain starts at seq %d (older files were rotated away or not given)\n", s.FirstSeq)
	}
	return 0
}
