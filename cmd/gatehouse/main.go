// Command gatehouse is a secure, self-hosted Go module proxy and the small
// tools that go with it. Each subcommand lives in a file of its own and
// registers itself in commands; main only dispatches.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
)

// A command is one subcommand of gatehouse.
type command struct {
	name    string
	summary string // one line, for the top-level help
	// run executes the command; args exclude the command name.
	// It returns the process exit code.
	run func(ctx context.Context, env *cmdEnv, args []string) int
}

// cmdEnv is what a command may touch of the outside world, so that tests can
// run commands in-process.
type cmdEnv struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
	// environ returns the whole environment, for commands that pass it on
	// (doctor audits it); nil means os.Environ.
	environ func() []string
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("gatehouse: command registered twice: " + c.name)
	}
	commands[c.name] = c
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, &cmdEnv{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr, getenv: os.Getenv}, os.Args[1:])
	stop()
	os.Exit(code)
}

func runMain(ctx context.Context, env *cmdEnv, args []string) int {
	if len(args) == 0 {
		usage(env.stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				return c.run(ctx, env, []string{"--help"})
			}
		}
		usage(env.stdout)
		return 0
	case "-version", "--version":
		name = "version"
	}
	c, ok := commands[name]
	if !ok {
		fmt.Fprintf(env.stderr, "gatehouse: unknown command %q; run 'gatehouse help' for the list\n", name)
		return 2
	}
	return c.run(ctx, env, args[1:])
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "gatehouse: a secure, self-hosted Go module proxy\n\nUsage:\n\n  gatehouse <command> [flags]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'gatehouse <command> --help' for a command's flags.")
}

// newFlagSet returns a flag set that reports errors instead of exiting, with
// a usage text that starts with the command's synopsis.
func newFlagSet(env *cmdEnv, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gatehouse %s\n\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and maps the outcome to an exit code: -1 to go on,
// 0 after --help (printed to stdout), 2 on a bad flag.
func parseFlags(env *cmdEnv, fs *flag.FlagSet, args []string) int {
	// The flag package prints the usage itself on any error; print it only
	// for --help, to stdout, and keep errors to one line plus a hint.
	usage := fs.Usage
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		fs.SetOutput(env.stdout)
		fs.Usage()
		return 0
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "run 'gatehouse %s --help' for usage\n", fs.Name())
		return 2
	}
	return -1
}
