package main

import (
	"strings"
	"testing"
)

// Invalid flags or config: one line naming the key, exit code 2.
func TestServeConfigErrors(t *testing.T) {
	for _, args := range [][]string{
		{"serve", "--listen", "nope"},
		{"serve", "--upstream", ""},
		{"serve", "--no-such-flag"},
		{"serve", "extra-argument"},
	} {
		code, _, errOut := runCmd(t, nil, args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2 (%q)", args, code, errOut)
		}
		if strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
			t.Errorf("%v: error is not short: %q", args, errOut)
		}
	}
	code, _, errOut := runCmd(t, map[string]string{"GATEHOUSE_LOG_LEVEL": "loud"}, "serve")
	if code != 2 || !strings.Contains(errOut, "log-level") {
		t.Errorf("bad env: exit %d, %q", code, errOut)
	}
}
