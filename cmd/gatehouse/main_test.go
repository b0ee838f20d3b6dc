package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCmd runs gatehouse in-process and returns its exit code and output.
func runCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	code = runMain(context.Background(), e, args)
	return code, out.String(), errb.String()
}

func TestVersion(t *testing.T) {
	code, out, _ := runCmd(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "gatehouse ") {
		t.Fatalf("version: code %d, output %q", code, out)
	}
}

func TestUnknownCommand(t *testing.T) {
	code, _, errOut := runCmd(t, nil, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Fatalf("code %d, stderr %q", code, errOut)
	}
}

// Every command answers --help with exit 0 and a usage line on stdout.
func TestEveryCommandHasHelp(t *testing.T) {
	for name := range commands {
		code, out, _ := runCmd(t, nil, name, "--help")
		if code != 0 || !strings.Contains(out, "Usage: gatehouse "+name) {
			t.Errorf("%s --help: code %d, stdout %q", name, code, out)
		}
	}
}
