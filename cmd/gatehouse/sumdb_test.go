package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sumdb key creates the key once (0600, in the data dir) and prints the
// same GOSUMDB line every time.
func TestSumDBKey(t *testing.T) {
	data := t.TempDir()
	code, out, errOut := runCmd(t, nil, "sumdb", "key", "--data", data, "--own-sumdb", "sum.corp.example")
	if code != 0 || !strings.HasPrefix(out, "sum.corp.example+") || strings.Count(out, "+") < 2 {
		t.Fatalf("sumdb key: code %d, out %q, err %q", code, out, errOut)
	}
	key := filepath.Join(data, ".gatehouse", "own-sumdb", "sum.corp.example.key")
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", st, err)
	}
	code, out2, _ := runCmd(t, map[string]string{"GATEHOUSE_DATA": data, "GATEHOUSE_OWN_SUMDB": "sum.corp.example"}, "sumdb", "key")
	if code != 0 || out2 != out {
		t.Errorf("second run printed %q, want %q", out2, out)
	}
	if code, _, _ := runCmd(t, nil, "sumdb", "frob"); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
	if code, out, _ := runCmd(t, nil, "sumdb", "key", "--help"); code != 0 || !strings.Contains(out, "GOSUMDB") {
		t.Errorf("sumdb key --help: %d %q", code, out)
	}
}
