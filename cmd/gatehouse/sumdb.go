package main

import (
	"context"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/sumdb"
)

func init() {
	register(&command{
		name:    "sumdb",
		summary: "gatehouse's own checksum log: 'sumdb key' prints the GOSUMDB value for clients",
		run:     runSumDB,
	})
}

func runSumDB(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.stdout, "Usage: gatehouse sumdb key [serve flags]\n\n"+
			"Prints the line clients put in GOSUMDB (<name>+<verifier key>) to trust gatehouse's own\n"+
			"checksum log, creating its key in the data dir (mode 0600) if there is none yet.\n"+
			"It reads the same flags, environment and --config file as 'gatehouse serve'.\n")
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	if args[0] != "key" {
		fmt.Fprintf(env.stderr, "gatehouse sumdb: unknown subcommand %q; run 'gatehouse sumdb --help'\n", args[0])
		return 2
	}
	cfg, code := loadServeConfig(env, "sumdb key", "sumdb key [flags]\n\nPrints <name>+<verifier key> of gatehouse's own checksum log, for the clients' GOSUMDB.\nTakes the flags of 'gatehouse serve'; only --data, --own-sumdb and --own-sumdb-key matter.", args[1:], true)
	if code >= 0 {
		return code
	}
	_, vkey, err := sumdb.LoadOrCreateKey(ownKeyFile(cfg), string(cfg.OwnSumDB))
	if err != nil {
		fmt.Fprintln(env.stderr, "gatehouse sumdb key: "+err.Error())
		return 1
	}
	fmt.Fprintln(env.stdout, vkey)
	return 0
}
