package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writePolicy(t *testing.T, src string) string {
	t.Helper()
	name := filepath.Join(t.TempDir(), "policy.toml")
	if err := os.WriteFile(name, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return name
}

const cliPolicy = `# test policy
default = "allow"

[[rule]]
name = "team-a"
modules = ["corp.example/team-a"]
groups = ["team-a"]
action = "allow"

[[rule]]
name = "team-a-others"
modules = ["corp.example/team-a"]
action = "deny"
reason = "team-a only"

[[rule]]
name = "cool-down"
min_age = "72h"
action = "deny"
reason = "new releases wait 72h"
`

func TestPolicyCheck(t *testing.T) {
	good := writePolicy(t, cliPolicy)
	code, out, _ := runCmd(t, nil, "policy", "check", good)
	if code != 0 || !strings.Contains(out, "ok: 3 rules, default allow") {
		t.Errorf("good file: %d %q", code, out)
	}
	bad := writePolicy(t, cliPolicy+"\n[[rule]]\nname = \"typo\"\naction = \"deny\"\nreason = \"r\"\nversion = \">=1.0.0\"\n")
	code, _, errOut := runCmd(t, nil, "policy", "check", bad)
	if code != 1 || errOut != bad+`:26: unknown key "rule.version"`+"\n" {
		t.Errorf("bad file: %d %q", code, errOut)
	}
	code, _, errOut = runCmd(t, nil, "policy", "check", filepath.Join(t.TempDir(), "missing.toml"))
	if code != 1 || !strings.Contains(errOut, "cannot read policy file") {
		t.Errorf("missing file: %d %q", code, errOut)
	}
	if code, _, _ := runCmd(t, nil, "policy", "check"); code != 2 {
		t.Errorf("no file: exit %d", code)
	}
	if code, _, _ := runCmd(t, nil, "policy", "frob"); code != 2 {
		t.Errorf("unknown subcommand: exit %d", code)
	}
}

func TestPolicyExplain(t *testing.T) {
	file := writePolicy(t, cliPolicy)
	tests := []struct {
		name string
		env  map[string]string
		args []string
		code int
		want []string
	}{
		{"group allowed", nil, []string{"--policy", file, "--group", "team-a", "corp.example/team-a/x@v1.0.0"}, 0,
			[]string{"ALLOW", "rule:   team-a (" + file + ":4)"}},
		{"other group denied", nil, []string{"--policy", file, "--group", "team-b", "corp.example/team-a@v1.0.0"}, 1,
			[]string{"DENY", "team-a-others", "reason: team-a only"}},
		{"other spelling denied", nil, []string{"--policy", file, "--group", "team-b", "corp.example/Team-A.git@v1.0.0"}, 1,
			[]string{"DENY", "rule:   team-a-others", "as:     corp.example/team-a (another spelling"}},
		{"other spelling allowed", nil, []string{"--policy", file, "--group", "team-a", "--age", "1000h", "corp.example/Team-A.git@v1.0.0"}, 0,
			[]string{"ALLOW"}},
		{"age unknown offline", nil, []string{"--policy", file, "example.com/m@v1.0.0"}, 0,
			[]string{"ALLOW", "none matched", "not evaluated offline", "cool-down (line 16)", "--published"}},
		{"age given", nil, []string{"--policy", file, "--age", "2h", "example.com/m@v1.0.0"}, 1,
			[]string{"DENY", "cool-down", "min_age is 72h"}},
		{"published given", nil, []string{"--policy", file, "--published", "2020-01-01T00:00:00Z", "example.com/m@v1.0.0"}, 0,
			[]string{"ALLOW", "none matched"}},
		{"pseudo-version's tags unknown offline", nil, []string{"--policy", file, "--age", "1000h", "example.com/m@v0.0.0-20200101000000-0123456789ab"}, 0,
			[]string{"ALLOW", "not evaluated offline", "tagged versions of the same commit as v0.0.0-20200101000000-0123456789ab", "the server reads the tags' commits"}},
		{"policy from env", map[string]string{"GATEHOUSE_POLICY": file}, []string{"--group", "team-b", "corp.example/team-a@v1.0.0"}, 1,
			[]string{"DENY"}},
	}
	for _, tt := range tests {
		code, out, errOut := runCmd(t, tt.env, append([]string{"policy", "explain"}, tt.args...)...)
		if code != tt.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", tt.name, code, tt.code, out, errOut)
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", tt.name, w, out)
			}
		}
	}
	// The policy named by the serve config is the one explained.
	cfg := filepath.Join(t.TempDir(), "gatehouse.toml")
	os.WriteFile(cfg, []byte("policy = \""+file+"\"\n"), 0o644)
	if code, out, _ := runCmd(t, nil, "policy", "explain", "--config", cfg, "corp.example/team-a@v1.0.0"); code != 1 || !strings.Contains(out, "team-a-others") {
		t.Errorf("via serve config: %d %q", code, out)
	}
	for _, args := range [][]string{
		{"--policy", file, "not-a-module"},
		{"--policy", file, "example.com/m@latest"},
		{"--policy", file, "--published", "yesterday", "example.com/m@v1.0.0"},
		{"--policy", file, "--age", "1h", "--published", "2020-01-01T00:00:00Z", "example.com/m@v1.0.0"},
		{"example.com/m@v1.0.0"}, // no policy anywhere
	} {
		code, _, errOut := runCmd(t, nil, append([]string{"policy", "explain"}, args...)...)
		if code != 2 || strings.Count(strings.TrimSpace(errOut), "\n") > 1 {
			t.Errorf("%v: exit %d, %q", args, code, errOut)
		}
	}
}
