package main

import (
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// loadServeConfig parses args as serve's flags and returns serve's
// effective configuration (file, then environment, then flags), validated
// when validate is set. code is -1 to go on, else the exit code, the error
// already printed as one line prefixed with "gatehouse <name>".
func loadServeConfig(env *cmdEnv, name, synopsis string, args []string, validate bool) (cfg *config.Serve, code int) {
	cfg = config.DefaultServe()
	fs := newFlagSet(env, name, synopsis)
	keys := cfg.Keys()
	configFile := config.Bind(fs, keys)
	if code := parseFlags(env, fs, args); code >= 0 {
		return nil, code
	}
	fail := func(err error) (*config.Serve, int) {
		fmt.Fprintf(env.stderr, "gatehouse %s: %v\n", name, err)
		return nil, 2
	}
	if fs.NArg() > 0 {
		return fail(fmt.Errorf("unexpected argument %q", fs.Arg(0)))
	}
	if err := config.Load(fs, keys, *configFile, cfg, env.getenv); err != nil {
		return fail(err)
	}
	if validate {
		if err := cfg.Validate(); err != nil {
			return fail(err)
		}
	}
	return cfg, -1
}
