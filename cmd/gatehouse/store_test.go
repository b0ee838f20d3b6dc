package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

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
	if code, _, errOut := runCmd(t, nil, "store", "rm", "--data", data); code != 2 || !strings.Contains(errOut, "unknown subcommand") {
		t.Errorf("store rm: %d %s", code, errOut)
	}
}

// gc removes by age and by quota, oldest first, spares what a --keep
// manifest pins unless --pinned-too, and --dry-run removes nothing.
func TestStoreGC(t *testing.T) {
	setup := func(t *testing.T) string {
		data := t.TempDir()
		now := time.Now()
		for i, m := range []string{"a", "b", "c"} {
			files := map[string]string{
				"example.com/" + m + "/@v/v1.0.0.info": "{}",
				"example.com/" + m + "/@v/v1.0.0.mod":  "module example.com/" + m + "\n",
				"example.com/" + m + "/@v/v1.0.0.zip":  strings.Repeat("z", 100),
			}
			testutil.WriteFiles(t, data, files)
			// a stored 30 days ago, b 20, c 1.
			age := []time.Duration{30, 20, 1}[i] * 24 * time.Hour
			os.Chtimes(filepath.Join(data, "example.com", m, "@v", "v1.0.0.mod"), now.Add(-age), now.Add(-age))
		}
		return data
	}
	stored := func(data, m string) bool {
		_, err := os.Stat(filepath.Join(data, "example.com", m, "@v", "v1.0.0.zip"))
		return err == nil
	}
	manifest := filepath.Join(t.TempDir(), "m.json")
	os.WriteFile(manifest, []byte(`{"format":1,"modules":[{"path":"example.com/a","version":"v1.0.0"}]}`), 0o644)

	data := setup(t)
	if code, out, _ := runCmd(t, nil, "store", "gc", "--data", data, "--older-than", "240h", "--dry-run"); code != 0 || !strings.Contains(out, "would remove 2 module versions") || !stored(data, "a") || !stored(data, "b") {
		t.Errorf("dry run: %d %s", code, out)
	}
	code, out, _ := runCmd(t, nil, "store", "gc", "--data", data, "--older-than", "240h", "--keep", manifest)
	if code != 0 || !stored(data, "a") || stored(data, "b") || !stored(data, "c") {
		t.Errorf("gc --older-than with a pin: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(data, "example.com/b/@v/v1.0.0.mod")); err == nil {
		t.Errorf("b's go.mod left behind")
	}
	if code, out, _ := runCmd(t, nil, "store", "gc", "--data", data, "--older-than", "240h", "--keep", manifest, "--pinned-too"); code != 0 || stored(data, "a") {
		t.Errorf("gc --pinned-too: %d %s", code, out)
	}

	// A quota of two versions' bytes removes the oldest one only.
	data = setup(t)
	per := int64(len("{}") + len("module example.com/a\n") + 100)
	if code, out, _ := runCmd(t, nil, "store", "gc", "--data", data, "--max-size", strconv.FormatInt(2*per, 10)); code != 0 || stored(data, "a") || !stored(data, "b") || !stored(data, "c") {
		t.Errorf("gc --max-size: %d %s", code, out)
	}
	if code, _, errOut := runCmd(t, nil, "store", "gc", "--data", data); code != 2 || !strings.Contains(errOut, "--older-than or --max-size") {
		t.Errorf("gc with no rule: %d %s", code, errOut)
	}
}
