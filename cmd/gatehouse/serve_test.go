package main

import (
	"bytes"
	"context"
	"net"
	"strings"
	"testing"
	"time"
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

// A metrics address taken by another process stops serve at start, with
// the reason in the log, rather than leaving it running without metrics.
func TestServeMetricsListenTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	env := map[string]string{"GATEHOUSE_METRICS_LISTEN": taken.Addr().String()}
	e := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return env[k] }}
	code := runMain(ctx, e, []string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir()})
	if code != 1 || !strings.Contains(errb.String(), "cannot listen for metrics") || strings.Contains(errb.String(), "gatehouse serving") {
		t.Errorf("exit %d, log:\n%s", code, errb.String())
	}
}
