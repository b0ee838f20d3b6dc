package main

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func TestStoreLsDu(t *testing.T) {
	data := t.TempDir()
	testutil.WriteFiles(t, data, map[string]string{
		"example.com/!caps/@v/v1.0.0.info":  "{}",
		"example.com/!caps/@v/v1.0.0.mod":   "module example.com/Caps\n",
		"example.com/!caps/@v/v1.0.0.zip":   "0123456789",
		"example.com/lib/@v/v1.1.0.mod":     "module example.com/lib\n",
		"example.com/lib/@v/list":           "v1.1.0\n",
		".gatehouse/sumdb/x/@v/v1.0.0.mod":  "not a module",
		"sumdb/sum.golang.org/tile/8/0/000": "tile",
	})
	code, out, errOut := runCmd(t, nil, "store", "ls", "--data", data)
	if code != 0 {
		t.Fatalf("store ls: %d %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "example.com/Caps\tv1.0.0\t36\t") ||
		!strings.HasPrefix(lines[1], "example.com/lib\tv1.1.0\t23\t") || !strings.HasSuffix(lines[1], "\tmod-only") {
		t.Errorf("store ls:\n%s", out)
	}
	code, out, _ = runCmd(t, nil, "store", "du", "--data", data, "example.com/lib")
	if code != 0 || out != "23\texample.com/lib\n23\ttotal (23 B, 1 module versions)\n" {
		t.Errorf("store du with a pattern: %d\n%s", code, out)
	}
	if code, _, errOut := runCmd(t, nil, "store", "gc", "--data", data); code != 2 || !strings.Contains(errOut, "unknown subcommand") {
		t.Errorf("store gc: %d %s", code, errOut)
	}
}
