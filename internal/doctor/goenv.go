package doctor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// GoEnv is what `go env` reports, with enough to say where each setting
// came from.
type GoEnv struct {
	Values  map[string]string // go env -json
	Changed map[string]bool   // keys in go env -changed -json
	environ map[string]string // the environment go ran with
	file    map[string]int    // key → line in the GOENV file
	root    map[string]int    // key → line in GOROOT/go.env
}

// An Origin is where a setting's value came from.
type Origin struct {
	Source Source
	Path   string // the file, for FromGoEnvFile and FromGOROOT
	Line   int
}

func (o Origin) String() string {
	if o.Path == "" {
		return string(o.Source)
	}
	return fmt.Sprintf("%s (%s)", o.Source, o.Path)
}

// Get returns the value of a go env key.
func (e *GoEnv) Get(key string) string { return e.Values[key] }

// Origin says where key's value came from. The go command takes a non-empty
// environment variable first, then the GOENV file, then GOROOT/go.env, then
// its built-in default; go env -changed tells a value that differs from the
// default, and the files tell which of them set it.
func (e *GoEnv) Origin(key string) Origin {
	if e.environ[key] != "" {
		return Origin{Source: FromEnvironment}
	}
	if line, ok := e.file[key]; ok {
		return Origin{Source: FromGoEnvFile, Path: e.Values["GOENV"], Line: line}
	}
	if line, ok := e.root[key]; ok && !e.Changed[key] {
		return Origin{Source: FromGOROOT, Path: filepath.Join(e.Values["GOROOT"], "go.env"), Line: line}
	}
	return Origin{Source: FromDefault}
}

// location returns the Location of a setting.
func (e *GoEnv) location(key string) Location {
	o := e.Origin(key)
	return Location{Path: o.Path, Line: o.Line, Setting: key}
}

// LoadGoEnv runs goCmd env with the environment environ and reads the
// files it names. It runs in a directory of its own so that no go.mod
// changes the answer, and with GOTOOLCHAIN=local so that a GOTOOLCHAIN
// setting cannot make it download a toolchain; the true GOTOOLCHAIN is
// asked for separately with `go env GOTOOLCHAIN`, which the go command
// always answers itself.
func LoadGoEnv(ctx context.Context, goCmd string, environ []string) (*GoEnv, error) {
	dir, err := os.MkdirTemp("", "gatehouse-doctor-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	env := &GoEnv{environ: envMap(environ)}
	run := func(environ []string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, goCmd, args...)
		cmd.Dir = dir
		cmd.Env = environ
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if i := strings.IndexByte(msg, '\n'); i >= 0 {
				msg = msg[:i]
			}
			if msg != "" {
				return nil, fmt.Errorf("go %s: %v: %s", strings.Join(args, " "), err, msg)
			}
			return nil, fmt.Errorf("go %s: %v", strings.Join(args, " "), err)
		}
		return out, nil
	}
	toolchain, err := run(environ, "env", "GOTOOLCHAIN")
	if err != nil {
		return nil, err
	}
	local := append(append([]string(nil), environ...), "GOTOOLCHAIN=local")
	out, err := run(local, "env", "-json")
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(out, &env.Values); err != nil {
		return nil, fmt.Errorf("go env -json: %v", err)
	}
	// go env -changed is Go 1.23 and later; without it, a value equal to a
	// GOROOT/go.env line is taken to come from there.
	changed := map[string]string{}
	if out, err := run(local, "env", "-changed", "-json"); err == nil {
		if err := json.Unmarshal(out, &changed); err != nil {
			return nil, fmt.Errorf("go env -changed -json: %v", err)
		}
	}
	env.Changed = map[string]bool{}
	for k := range changed {
		env.Changed[k] = true
	}
	env.Values["GOTOOLCHAIN"] = strings.TrimSpace(string(toolchain))
	env.file = readEnvFile(env.Values["GOENV"])
	env.root = readEnvFile(filepath.Join(env.Values["GOROOT"], "go.env"))
	// Our GOTOOLCHAIN=local decides nothing: recompute whether it changed.
	delete(env.Changed, "GOTOOLCHAIN")
	if _, ok := env.file["GOTOOLCHAIN"]; ok || env.environ["GOTOOLCHAIN"] != "" {
		env.Changed["GOTOOLCHAIN"] = true
	}
	return env, nil
}

// readEnvFile returns the line of each key set in a go env file (the
// rules of cmd/go's readEnvFile: KEY=VALUE lines starting with A-Z).
func readEnvFile(path string) map[string]int {
	keys := map[string]int{}
	if path == "" || path == "off" {
		return keys
	}
	f, err := os.Open(path)
	if err != nil {
		return keys
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if line == "" || line[0] < 'A' || line[0] > 'Z' {
			continue
		}
		if k, _, ok := strings.Cut(line, "="); ok {
			keys[k] = n
		}
	}
	return keys
}

func envMap(environ []string) map[string]string {
	m := map[string]string{}
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v // later entries win, as in exec.Cmd
		}
	}
	return m
}
