package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
)

func init() {
	register(&command{
		name:    "audit",
		summary: "verify the hash chain of audit log files; make an audit key",
		run:     runAudit,
	})
}

const auditUsage = "Usage: gatehouse audit verify [--key-file FILE] FILE...\n       gatehouse audit keygen FILE\n\n" +
	"verify checks the hash chain of audit log files; keygen makes a key that\nseals audit lines (audit_key_file). Run 'gatehouse audit verify --help'."

func runAudit(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) > 0 {
		switch args[0] {
		case "verify":
			return runAuditVerify(env, args[1:])
		case "keygen":
			return runAuditKeygen(env, args[1:])
		case "-h", "--help", "-help":
			fmt.Fprintln(env.stdout, auditUsage)
			return 0
		}
	}
	fmt.Fprintln(env.stderr, "gatehouse audit: want 'gatehouse audit verify FILE...' or 'gatehouse audit keygen FILE'")
	return 2
}

func runAuditVerify(env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "audit verify", "audit verify [--key-file FILE] FILE...\n\nChecks that audit log files form unbroken hash chains, one per replica (by\nthe replica field; none in older logs): no line edited, removed, added or\nreordered. Give the current file and its rotated ones in\nany order (audit.log*). Prints the first bad line as FILE:LINE and exits 1.\nOn success, prints the last record's hash: compare it with a copy kept\nelsewhere to detect lines cut from the end.\n\nA log written with audit_key_file needs the same key here: its lines are\nsealed with HMAC-SHA256, and every line after the first sealed one must be.")
	keyFile := fs.String("key-file", "", "the audit key `file` the log was written with (audit_key_file)")
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(env.stderr, "gatehouse audit verify: name at least one audit log file")
		return 2
	}
	var key []byte
	if *keyFile != "" {
		var err error
		if key, err = audit.LoadKey(*keyFile); err != nil {
			fmt.Fprintln(env.stderr, "gatehouse audit verify: --key-file: "+err.Error())
			return 2
		}
	}
	ss, err := audit.VerifyReplicas(key, fs.Args()...)
	if ss == nil && err != nil {
		fmt.Fprintln(env.stderr, "gatehouse audit verify: FAILED: "+err.Error())
		return 1
	}
	code := 0
	for _, s := range ss {
		name := "replica " + strconv.Quote(s.Replica)
		if s.Replica == "" {
			name = "no replica id (older log)"
		}
		if s.Err != nil {
			fmt.Fprintf(env.stderr, "gatehouse audit verify: FAILED: %s: %v\n", name, s.Err)
			code = 1
			continue
		}
		fmt.Fprintf(env.stdout, "ok: %s: %d records in %d files, seq %d..%d, last hash %s\n", name, s.Records, s.Files, s.FirstSeq, s.LastSeq, s.LastHash)
		if s.Keyed > 0 && s.FirstKeyedSeq != s.FirstSeq {
			fmt.Fprintf(env.stdout, "note: %s: records before seq %d were written without the key; the sealed record %d vouches for them\n", name, s.FirstKeyedSeq, s.FirstKeyedSeq)
		}
		if s.FirstSeq != 1 {
			fmt.Fprintf(env.stdout, "note: %s: the chain starts at seq %d (older files were rotated away or not given)\n", name, s.FirstSeq)
		}
	}
	return code
}

func runAuditKeygen(env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "audit keygen", "audit keygen FILE\n\nWrites a new random audit key (32 bytes, hex) to FILE with mode 0600; never\noverwrites. Point audit_key_file at it, and keep a copy where the audit log's\nverifiers can reach it but its writers cannot.")
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(env.stderr, "gatehouse audit keygen: name one file to create")
		return 2
	}
	if err := audit.WriteKey(fs.Arg(0)); err != nil {
		fmt.Fprintln(env.stderr, "gatehouse audit keygen: "+err.Error())
		return 1
	}
	fmt.Fprintf(env.stdout, "wrote %s; add to serve's config:\naudit_key_file = %q\n", fs.Arg(0), fs.Arg(0))
	return 0
}
