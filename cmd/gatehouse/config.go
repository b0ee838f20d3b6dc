package main

import (
	"context"
	"fmt"

	"github.com/BurntSushi/toml"
)

func init() {
	register(&command{
		name:    "config",
		summary: "print serve's effective configuration, secrets redacted",
		run:     runConfig,
	})
}

func runConfig(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 || args[0] != "print" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help") {
			fmt.Fprintln(env.stdout, "Usage: gatehouse config print [serve flags]\n\nPrints the configuration serve would run with. Run 'gatehouse config print --help'.")
			return 0
		}
		fmt.Fprintln(env.stderr, "gatehouse config: want 'gatehouse config print [serve flags]'")
		return 2
	}
	cfg, code := loadServeConfig(env, "config print", "config print [serve flags]\n\nPrints, as TOML, the configuration 'gatehouse serve' would run with given the\nsame flags, environment and --config file, with secrets (token hashes,\npasswords in URLs) redacted. Takes every flag serve takes.", args[1:], false)
	if code >= 0 {
		return code
	}
	if err := toml.NewEncoder(env.stdout).Encode(cfg.Redacted()); err != nil {
		fmt.Fprintln(env.stderr, "gatehouse config print: "+err.Error())
		return 1
	}
	if err := cfg.Validate(); err != nil {
		fmt.Fprintln(env.stderr, "gatehouse config print: warning: serve would refuse this: "+err.Error())
		return 1
	}
	return 0
}
