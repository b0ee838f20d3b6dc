package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// loadServeConfig parses args as serve's flags and returns serve's
// effective configuration (file, then environment, then flags), validated
// when validate is set. code is -1 to go on, else the exit code, the error
// already printed as one line prefixed with "gatehouse <name>".
func loadServeConfig(env *cmdEnv, name, synopsis string, args []string, validate bool) (cfg *config.Serve, code int) {
	fs := newFlagSet(env, name, synopsis)
	cfg, err := readServeConfig(env, fs, args, validate)
	if err == errHelpShown {
		return nil, 0
	}
	if err == errBadFlag {
		return nil, 2
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse %s: %v\n", name, err)
		return nil, 2
	}
	return cfg, -1
}

// rereadServeConfig reads serve's configuration again from the same flags,
// environment and file, for a reload; errors are returned, not printed.
func rereadServeConfig(env *cmdEnv, args []string) (*config.Serve, error) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	quiet := *env
	quiet.stdout, quiet.stderr = io.Discard, io.Discard
	cfg, err := readServeConfig(&quiet, fs, args, true)
	if err == errHelpShown || err == errBadFlag {
		return nil, fmt.Errorf("the command line no longer parses")
	}
	return cfg, err
}

// Outcomes of parsing that parseFlags has already reported.
var (
	errHelpShown = errors.New("help shown")
	errBadFlag   = errors.New("bad flag")
)

func readServeConfig(env *cmdEnv, fs *flag.FlagSet, args []string, validate bool) (*config.Serve, error) {
	return readServeConfigArgs(env, fs, args, validate, false)
}

// readServeConfigArgs is readServeConfig for a command that takes
// arguments after serve's flags (mirror) when allowArgs is set.
func readServeConfigArgs(env *cmdEnv, fs *flag.FlagSet, args []string, validate, allowArgs bool) (*config.Serve, error) {
	cfg := config.DefaultServe()
	keys := cfg.Keys()
	configFile := config.Bind(fs, keys)
	switch code := parseFlags(env, fs, args); code {
	case 0:
		return nil, errHelpShown
	case 2:
		return nil, errBadFlag
	}
	if fs.NArg() > 0 && !allowArgs {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := config.Load(fs, keys, *configFile, cfg, env.getenv); err != nil {
		return nil, err
	}
	if validate {
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}
