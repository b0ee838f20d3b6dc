package integration

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// The gatehouse binary's doctor audits a go environment pointed at a
// running gatehouse serve: clean when the environment is right, exit 3 with
// a SARIF log when it is not, and the module a client downloaded through
// gatehouse passes go mod verify until its cache copy is changed.
func TestDoctorBinary(t *testing.T) {
	up := testproxy.New(t)
	p := serveTestUpstream(t, up)
	dir := project(t)
	env := goEnv(t, p, up, "GOFLAGS=-modcacherw")
	testutil.MustGo(t, dir, env, "mod", "tidy")
	testutil.MustGo(t, dir, env, "mod", "download", "all")

	// testutil.GoEnv turns the go env file off and pins GOPROXY; doctor reads
	// the environment as it is, so this is the environment a CI job would have.
	doctor := func(env []string, args ...string) (int, string) {
		cmd := exec.Command(gatehouseBin, append([]string{"doctor"}, args...)...)
		cmd.Env = env
		out, err := cmd.Output()
		var exit *exec.ExitError
		if err != nil && !errors.As(err, &exit) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), string(out)
	}
	code, out := doctor(env, "--module", dir, "--proxy", p.URL, "--known-module", "example.com/hello@v1.0.0", "--fail-on", "low")
	if code != 0 || !strings.Contains(out, "no findings") {
		t.Fatalf("doctor on a good environment: exit %d\n%s", code, out)
	}

	// Someone changes a file of a downloaded module, and the environment
	// turns verification off.
	var modcache string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "GOMODCACHE="); ok {
			modcache = v
		}
	}
	goFile := filepath.Join(modcache, "example.com", "hello@v1.0.0", "hello.go")
	if err := os.WriteFile(goFile, []byte("package hello\n\nfunc World() string { return \"planted\" }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bad := append(append([]string(nil), env...), "GOSUMDB=off")
	code, out = doctor(bad, "--module", dir, "--format", "sarif")
	if code != 3 {
		t.Fatalf("doctor on a bad environment: exit %d\n%s", code, out)
	}
	var log struct {
		Version string
		Runs    []struct {
			Results []struct {
				RuleID string
				Level  string
			}
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatalf("sarif: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, r := range log.Runs[0].Results {
		got[r.RuleID] = r.Level
	}
	if got["GH001"] != "error" || got["GH032"] != "error" {
		t.Errorf("results %v, want GH001 (GOSUMDB=off) and GH032 (modified module)", got)
	}
}
