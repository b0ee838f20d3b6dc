package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// kill ends the process with SIGKILL: no shutdown code runs, as in a
// crash, an OOM kill or a power cut.
func (p *proc) kill(t *testing.T) {
	t.Helper()
	p.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("gatehouse did not die on SIGKILL")
	}
}

// restartEnv is one data directory with every persistent part gatehouse
// has switched on: the store, the public database's tree head and tiles,
// the own checksum log and its key, a keyed audit log, and a policy.
type restartEnv struct {
	*privateEnv
	auditFile, auditKey, policy string
	upGone                      bool // /readyz then says not ready, rightly
}

func newRestartEnv(t *testing.T) *restartEnv {
	e := &restartEnv{privateEnv: newPrivateEnv(t)}
	logs := t.TempDir()
	e.auditFile = filepath.Join(logs, "audit.log")
	e.auditKey = filepath.Join(logs, "audit.key")
	if out, err := exec.Command(gatehouseBin, "audit", "keygen", e.auditKey).CombinedOutput(); err != nil {
		t.Fatalf("audit keygen: %v\n%s", err, out)
	}
	// A cool-down on the private modules, in dry run so that downloads go
	// on: it makes gatehouse date each private version by first sight,
	// state that must survive every restart.
	e.policy = writePolicyFile(t, `
[[rule]]
name = "cool-down"
modules = ["example.com/lib", "git.corp.test/**"]
min_age = "72h"
action = "deny"
dry_run = true
reason = "held back"
`)
	return e
}

func (e *restartEnv) start(t *testing.T) *proc {
	t.Helper()
	return startServeEnv(t, e.data, e.git.Env(), "--config", e.config, "--upstream", e.up.URL, "--sumdb", e.up.GOSUMDB(),
		"--audit-file", e.auditFile, "--audit-key-file", e.auditKey, "--policy", e.policy, "--module-index", e.up.IndexURL())
}

// restart stops p (SIGTERM or SIGKILL), starts gatehouse again on the same
// data, and checks that everything it wrote reads back: it starts, is
// ready, its audit chain verifies and goes on.
func (e *restartEnv) restart(t *testing.T, p *proc, how string) *proc {
	t.Helper()
	switch how {
	case "stop":
		if code := p.stop(t); code != 0 {
			t.Fatalf("exit code %d on SIGTERM", code)
		}
	case "kill":
		p.kill(t)
	}
	p2 := e.start(t)
	health := "/readyz"
	if e.upGone {
		health = "/healthz"
	}
	if resp, body := get(t, p2.URL+health); resp.StatusCode != 200 {
		t.Fatalf("/readyz after %s: %d %s", how, resp.StatusCode, body)
	}
	files, _ := filepath.Glob(e.auditFile + "*")
	if st, err := os.Stat(e.auditFile); err == nil && st.Size() > 0 || len(files) > 1 {
		args := append([]string{"audit", "verify", "--key-file", e.auditKey}, files...)
		if out, err := exec.Command(gatehouseBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("audit verify after %s: %v\n%s", how, err, out)
		}
	}
	return p2
}

// firstSeen reads the policy's first-seen times (path@version → time).
func (e *restartEnv) firstSeen(t *testing.T) map[string]string {
	t.Helper()
	var times map[string]string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		data, err := os.ReadFile(filepath.Join(e.data, ".gatehouse", "policy", "first-seen.json"))
		if err == nil && json.Unmarshal(data, &times) == nil && len(times) > 0 {
			return times
		}
		if time.Now().After(deadline) {
			t.Fatalf("first-seen times: %v %.200s", err, data)
		}
	}
}

// appWith writes a module that requires mods ("path version" each).
func appWith(t *testing.T, mods ...string) string {
	dir := t.TempDir()
	gomod := "module example.com/app\n\ngo 1.21\n"
	for _, m := range mods {
		gomod += "\nrequire " + m + "\n"
	}
	testutil.WriteFiles(t, dir, map[string]string{"go.mod": gomod})
	return dir
}

// A data directory comes back after a clean stop and after SIGKILL, at
// every stage of use: new and empty, after public fetches, after private
// fetches, and killed in the middle of fetches.
func TestRestartAtEveryStage(t *testing.T) {
	testutil.RequireCommand(t, "git")
	e := newRestartEnv(t)
	p := e.start(t)

	// Empty: nothing fetched yet.
	for _, how := range []string{"stop", "kill", "stop"} {
		p = e.restart(t, p, how)
	}
	if !strings.Contains(p.Logs(), "own checksum log") {
		t.Fatalf("no own checksum log line:\n%s", p.Logs())
	}

	// After public fetches, verified by the go command through both
	// databases (the public one, and the own log that records them).
	public := appWith(t, "example.com/hello v1.0.0", "example.com/Caps v1.0.0")
	download := func(p *proc, dir string) {
		t.Helper()
		env := e.goEnv(t, p)
		e.mustRun(t, dir, env, "mod", "download", "all")
		if out := e.mustRun(t, dir, env, "mod", "verify"); !strings.Contains(out, "all modules verified") {
			t.Fatalf("go mod verify: %s", out)
		}
	}
	download(p, public)
	for _, how := range []string{"stop", "kill"} {
		p = e.restart(t, p, how)
		download(p, public)
	}

	// After private fetches: the own log holds them, signed.
	private := appWith(t, "git.corp.test/lib v1.0.0", "example.com/hello v1.0.0")
	download(p, private)
	for _, how := range []string{"stop", "kill"} {
		p = e.restart(t, p, how)
		download(p, private)
	}
	// A version first fetched after the restarts joins the same log.
	download(p, appWith(t, "git.corp.test/lib v1.1.0"))
	firstSeen := e.firstSeen(t)["git.corp.test/lib@v1.0.0"]
	if firstSeen == "" {
		t.Fatal("no first-seen time for git.corp.test/lib@v1.0.0")
	}

	// Killed mid-fetch: slow answers keep fetches in flight while the
	// process dies, at a few points of the fetch.
	// Each round asks for versions not fetched yet, public (with a zip of
	// some size, so that the kill can land in its write) and private.
	e.up.SetDelay(150 * time.Millisecond)
	big := strings.Repeat("// filler to make the zip take a while to write\n", 40000)
	for i, after := range []time.Duration{50 * time.Millisecond, 200 * time.Millisecond, 500 * time.Millisecond} {
		crash := fmt.Sprintf("example.com/crash%d", i)
		if err := e.up.Add(crash, "v1.0.0", map[string]string{
			"go.mod": "module " + crash + "\n\ngo 1.21\n", "big.go": "package crash\n" + big,
		}, time.Now().Add(-100*time.Hour)); err != nil {
			t.Fatal(err)
		}
		tag := fmt.Sprintf("v1.%d.0", i+2)
		e.repo.Commit(t, map[string]string{"lib.go": "package lib\n\nfunc Name() string { return \"private " + tag + "\" }\n"})
		e.repo.Tag(t, tag)
		dir := appWith(t, crash+" v1.0.0", "git.corp.test/lib "+tag, "example.com/hello/v2 v2.0.0")
		cmd := exec.Command("go", "mod", "download", "all")
		cmd.Dir, cmd.Env = dir, e.goEnv(t, p)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(after)
		before := e.up.TotalCount()
		p.kill(t)
		t.Logf("round %d: killed after %v, %d upstream requests so far", i, after, before)
		cmd.Wait() // fails: the server died under it
		p = e.restart(t, p, "none")
		download(p, dir)
	}
	e.up.SetDelay(0)

	// The policy's first-seen times came back too: a private tag is still
	// dated by when gatehouse first saw it, not reset by the restarts.
	if got := e.firstSeen(t)["git.corp.test/lib@v1.0.0"]; got != firstSeen {
		t.Errorf("first-seen time of git.corp.test/lib@v1.0.0: %q after restarts, %q before", got, firstSeen)
	}

	// The store serves everything fetched so far with the upstream gone.
	e.up.Close()
	e.upGone = true
	p = e.restart(t, p, "stop")
	download(p, public)
	if resp, _ := get(t, p.URL+"/git.corp.test/lib/@v/v1.1.0.mod"); resp.StatusCode != http.StatusOK {
		t.Errorf("private go.mod after restarts: %d", resp.StatusCode)
	}

	// A power cut can leave the audit log's last line half on disk (lines
	// are not synced one by one): the next start sets it aside and goes on.
	p.stop(t)
	f, err := os.OpenFile(e.auditFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"time":"2026-12-04T10:00:00Z","service":"proxy","req`)
	f.Close()
	p = e.restart(t, p, "none")
	download(p, public)
	if !p.LogsContain("moved it aside") {
		t.Errorf("no warning about the torn audit line:\n%s", p.Logs())
	}
}
