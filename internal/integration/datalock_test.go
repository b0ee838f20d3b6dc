package integration

import (
	"context"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// A second serve on a data directory in use refuses to start, naming the
// directory and the PID of the one holding it; once the holder is killed
// with SIGKILL (no shutdown code runs) a new serve starts on it.
func TestSecondServeOnDataDirRefused(t *testing.T) {
	data := t.TempDir()
	first := startServe(t, data)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	second := exec.CommandContext(ctx, gatehouseBin, "serve", "--listen", "127.0.0.1:0", "--data", data)
	out, err := second.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("second serve did not exit: it is serving beside the first:\n%s", out)
	}
	if err == nil || second.ProcessState.ExitCode() != 1 {
		t.Fatalf("second serve: %v, want exit 1:\n%s", err, out)
	}
	pid := strconv.Itoa(first.cmd.Process.Pid)
	if !strings.Contains(string(out), data) || !strings.Contains(string(out), "pid "+pid) {
		t.Errorf("refusal does not name %s and pid %s:\n%s", data, pid, out)
	}
	if strings.Contains(string(out), "gatehouse serving") {
		t.Errorf("second serve started listening:\n%s", out)
	}

	// The other commands that write the store wait their turn too.
	for _, args := range [][]string{
		{"mirror", "--data", data, "--upstream", "http://127.0.0.1:1", "example.com/hello@v1.0.0"},
		{"import", "--data", data, "--sumdb-key", "sum.golang.org", "/dev/null"},
		{"store", "gc", "--data", data, "--older-than", "1h"},
	} {
		out, err := exec.CommandContext(ctx, gatehouseBin, args...).CombinedOutput()
		if err == nil || !strings.Contains(string(out), "pid "+pid) {
			t.Errorf("gatehouse %s on a data directory in use: %v\n%s", args[0], err, out)
		}
	}

	first.kill(t)
	third := startServe(t, data)
	if resp, body := get(t, third.URL+"/healthz"); resp.StatusCode != 200 {
		t.Fatalf("/healthz after taking over: %d %s", resp.StatusCode, body)
	}
}
