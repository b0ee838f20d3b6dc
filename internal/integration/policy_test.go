package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// writePolicyFile writes src as a policy file in a temp dir and returns its
// path; "VULNDB" in src becomes the fixture vulnerability database.
func writePolicyFile(t *testing.T, src string) string {
	t.Helper()
	db, err := filepath.Abs("testdata/vulndb")
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "policy.toml")
	replacePolicy(t, name, strings.ReplaceAll(src, "VULNDB", db))
	return name
}

// replacePolicy swaps the file's contents atomically (write, then rename).
func replacePolicy(t *testing.T, name, src string) {
	t.Helper()
	tmp := name + ".new"
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, name); err != nil {
		t.Fatal(err)
	}
}

// goGet runs go get in a fresh module and returns the version of modPath
// it required, or the go command's output and error.
func goGet(t *testing.T, env []string, query string) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	testutil.MustGo(t, dir, env, "mod", "init", "example.com/app")
	out, err := testutil.Go(t, dir, env, "get", query)
	if err != nil {
		return "", out, err
	}
	modPath, _, _ := strings.Cut(query, "@")
	gomod, _ := os.ReadFile(filepath.Join(dir, "go.mod"))
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(strings.TrimPrefix(strings.TrimSpace(line), "require"))
		if len(f) >= 2 && f[0] == modPath {
			return f[1], out, nil
		}
	}
	t.Fatalf("go.mod does not require %s:\n%s", modPath, gomod)
	return "", "", nil
}

// go get mod@latest resolves to the newest version the policy allows, for
// each way a newer one can be denied, and asking for a denied version fails
// with the rule and reason in the go command's own output.
func TestPolicyLatestIsNewestAllowed(t *testing.T) {
	tests := []struct {
		name       string
		policy     string
		module     string
		setup      func(up *testproxy.Server)
		wantLatest string
		denied     string
		wantOut    []string
	}{
		{
			name:   "range",
			module: "example.com/lib",
			policy: `
[[rule]]
name = "lib-range"
modules = ["example.com/lib"]
versions = ">=1.3.0 <2.0.0"
action = "deny"
reason = "v1.3 breaks the build (ticket OPS-7)"
`,
			wantLatest: "v1.2.0", denied: "v1.3.0",
			wantOut: []string{`403 Forbidden`, `gatehouse policy: example.com/lib@v1.3.0 is denied by rule "lib-range": v1.3 breaks the build (ticket OPS-7)`},
		},
		{
			name:   "age",
			module: "example.com/lib",
			setup: func(up *testproxy.Server) {
				up.Add("example.com/lib", "v1.4.0", map[string]string{"go.mod": "module example.com/lib\n\ngo 1.21\n", "lib.go": "package lib\n"}, time.Now().Add(-time.Hour))
			},
			policy: `
[[rule]]
name = "cool-down"
min_age = "72h"
action = "deny"
reason = "releases younger than 72h are held back"
`,
			wantLatest: "v1.3.0", denied: "v1.4.0",
			wantOut: []string{`denied by rule "cool-down": releases younger than 72h are held back`, "min_age is 72h"},
		},
		{
			// Backdated by its author to 2020, first had by the mirror an
			// hour ago: the index's time counts, not the commit's.
			name:   "backdated",
			module: "example.com/lib",
			setup: func(up *testproxy.Server) {
				up.Add("example.com/lib", "v1.4.0", map[string]string{"go.mod": "module example.com/lib\n\ngo 1.21\n", "lib.go": "package lib\n"}, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
				up.SetIndexTime("example.com/lib", "v1.4.0", time.Now().Add(-time.Hour))
			},
			policy: `
[[rule]]
name = "cool-down"
min_age = "72h"
action = "deny"
reason = "releases younger than 72h are held back"
`,
			wantLatest: "v1.3.0", denied: "v1.4.0",
			wantOut: []string{`denied by rule "cool-down": releases younger than 72h are held back`, "min_age is 72h"},
		},
		{
			name:   "retraction",
			module: "example.com/retracted",
			policy: `
[[rule]]
name = "no-retracted"
retracted = true
action = "deny"
reason = "retracted by its authors"
`,
			wantLatest: "v1.1.0", denied: "v1.2.0",
			wantOut: []string{`denied by rule "no-retracted"`, "published by mistake: the API is broken"},
		},
		{
			name:   "vulnerability",
			module: "example.com/lib",
			policy: `
vuln_db = "VULNDB"
[[rule]]
name = "vulns"
vulnerable = true
min_severity = "high"
action = "deny"
reason = "known vulnerability"
`,
			wantLatest: "v1.2.0", denied: "v1.3.0",
			wantOut: []string{`denied by rule "vulns": known vulnerability`, "GO-2099-0101 (high)"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := testproxy.New(t)
			if tt.setup != nil {
				tt.setup(up)
			}
			// The module index is the test upstream's fake: index.golang.org
			// cannot be reached from tests.
			p := serveTestUpstream(t, up, "--policy", writePolicyFile(t, tt.policy), "--module-index", up.IndexURL())
			env := goEnv(t, p, up)
			got, out, err := goGet(t, env, tt.module+"@latest")
			if err != nil || got != tt.wantLatest {
				t.Errorf("go get %s@latest = %s, want %s (%v)\n%s", tt.module, got, tt.wantLatest, err, out)
			}
			// -retracted: the go command would show retracted versions too;
			// what it lists is what the proxy lets through.
			list := testutil.MustGo(t, t.TempDir(), env, "list", "-m", "-retracted", "-versions", tt.module)
			if strings.Contains(list, tt.denied) {
				t.Errorf("go list -m -versions shows the denied %s: %s", tt.denied, list)
			}
			_, out, err = goGet(t, env, tt.module+"@"+tt.denied)
			if err == nil {
				t.Fatalf("go get %s@%s succeeded:\n%s", tt.module, tt.denied, out)
			}
			t.Logf("go get %s@%s:\n%s", tt.module, tt.denied, out)
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("go output lacks %q:\n%s", w, out)
				}
			}
			if !p.LogsContain("decision=deny") {
				t.Errorf("access log has no decision=deny:\n%s", p.Logs())
			}
		})
	}
}

// In dry run the go command gets everything, and the log says what the
// policy would have refused.
func TestPolicyDryRun(t *testing.T) {
	up := testproxy.New(t)
	p := serveTestUpstream(t, up, "--policy", writePolicyFile(t, `
dry_run = true
[[rule]]
name = "lib-range"
modules = ["example.com/lib"]
versions = ">=1.3.0"
action = "deny"
reason = "trying this rule out"
`))
	env := goEnv(t, p, up)
	if got, out, err := goGet(t, env, "example.com/lib@latest"); err != nil || got != "v1.3.0" {
		t.Fatalf("dry run changed the outcome: %s %v\n%s", got, err, out)
	}
	p.LogsContain("decision=would-deny") // request lines are written out in batches
	logs := p.Logs()
	if !strings.Contains(logs, "decision=would-deny") || !strings.Contains(logs, `reason="trying this rule out" rule=lib-range`) {
		t.Errorf("no would-deny in the log:\n%s", logs)
	}
	if strings.Contains(logs, "status=403") {
		t.Errorf("dry run refused a request:\n%s", logs)
	}
}

// A bad policy stops serve from starting, with the file and line.
func TestPolicyBadFileAtStart(t *testing.T) {
	file := writePolicyFile(t, "[[rule]]\naction = \"deny\"\n")
	out, err := runGatehouse(t, "serve", "--listen", "127.0.0.1:0", "--data", t.TempDir(), "--policy", file)
	if err == nil || !strings.Contains(out, file+":1:") || !strings.Contains(out, "needs a reason") {
		t.Errorf("serve with a bad policy: %v\n%s", err, out)
	}
}

func runGatehouse(t testing.TB, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(gatehouseBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// The policy reloads when its file changes and on SIGHUP; a bad new file
// is refused and the old policy stays; requests under way during reloads
// all succeed.
func TestPolicyReload(t *testing.T) {
	denyAll := "[[rule]]\nname = \"closed\"\nmodules = [\"example.com/lib\"]\naction = \"deny\"\nreason = \"closed for now\"\n"
	allowAll := "default = \"allow\"\n"
	up := testproxy.New(t)
	file := writePolicyFile(t, denyAll)
	p := serveTestUpstream(t, up, "--policy", file, "--policy-poll", "100ms")
	env := goEnv(t, p, up)
	if _, out, err := goGet(t, env, "example.com/lib@v1.0.0"); err == nil || !strings.Contains(out, "closed for now") {
		t.Fatalf("first policy not in force: %v\n%s", err, out)
	}
	replacePolicy(t, file, allowAll)
	waitForLog(t, p, "policy reloaded", 1)
	if got, out, err := goGet(t, env, "example.com/lib@latest"); err != nil || got != "v1.3.0" {
		t.Fatalf("after the file changed: %s %v\n%s", got, err, out)
	}
	replacePolicy(t, file, "[[rule]]\naction = \"deny\"\nreason = \"r\"\nversions = \"1.x\"\n")
	waitForLog(t, p, "policy reload refused", 1)
	if !p.LogsContain(":4: rule 1: versions") {
		t.Errorf("refusal does not name the line:\n%s", p.Logs())
	}
	if got, out, err := goGet(t, env, "example.com/lib@latest"); err != nil || got != "v1.3.0" {
		t.Fatalf("bad file replaced the policy: %s %v\n%s", got, err, out)
	}

	// SIGHUP, with polling off: the file changes only count after the signal.
	file2 := writePolicyFile(t, allowAll)
	p2 := serveTestUpstream(t, up, "--policy", file2, "--policy-poll", "0")
	env2 := goEnv(t, p2, up)
	testutil.MustGo(t, t.TempDir(), env2, "mod", "download", "example.com/lib@v1.0.0")
	replacePolicy(t, file2, denyAll)
	time.Sleep(200 * time.Millisecond)
	if resp, _ := get(t, p2.URL+"/example.com/lib/@v/v1.0.0.info"); resp.StatusCode != 200 {
		t.Errorf("policy changed without SIGHUP: %d", resp.StatusCode)
	}
	p2.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, p2, "policy reloaded", 1)
	if resp, body := get(t, p2.URL+"/example.com/lib/@v/v1.0.0.info"); resp.StatusCode != 403 || !strings.Contains(body, "closed for now") {
		t.Errorf("after SIGHUP: %d %q", resp.StatusCode, body)
	}

	// Under load: a bounded loop of requests while the policy is reloaded
	// again and again (with a bad file in between) drops nothing.
	replacePolicy(t, file2, allowAll)
	p2.cmd.Process.Signal(syscall.SIGHUP)
	waitForLog(t, p2, "policy reloaded", 2)
	var failed, ok, refused atomic.Int64
	var wg sync.WaitGroup
	stop := make(chan struct{})
	reloaded := make(chan int)
	go func() {
		srcs := []string{denyAll, "[[rule]]\naction = \"maybe\"\n", allowAll}
		n := 0
		for i := 0; ; i++ {
			select {
			case <-stop:
				reloaded <- n
				return
			case <-time.After(5 * time.Millisecond):
			}
			tmp := file2 + ".load"
			os.WriteFile(tmp, []byte(srcs[i%len(srcs)]), 0o644)
			os.Rename(tmp, file2)
			p2.cmd.Process.Signal(syscall.SIGHUP)
			n++
		}
	}()
	client := &http.Client{Timeout: 10 * time.Second}
	const workers, perWorker = 4, 100
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				resp, err := client.Get(p2.URL + "/example.com/lib/@v/v1.0.0.info")
				if err != nil {
					failed.Add(1)
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				switch {
				case resp.StatusCode == 200 && strings.Contains(string(body), `"Version":"v1.0.0"`):
					ok.Add(1)
				case resp.StatusCode == 403 && strings.Contains(string(body), "closed for now"):
					refused.Add(1)
				default:
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	close(stop)
	n := <-reloaded
	if failed.Load() != 0 || ok.Load()+refused.Load() != workers*perWorker {
		t.Errorf("%d of %d requests failed during %d reloads", failed.Load(), workers*perWorker, n)
	}
	t.Logf("%d requests during %d SIGHUP reloads: %d served, %d refused, %d failed", workers*perWorker, n, ok.Load(), refused.Load(), failed.Load())
	if strings.Contains(p2.Logs(), "panic") {
		t.Errorf("panic in the log:\n%s", p2.Logs())
	}
}

// waitForLog waits until msg has appeared at least n times in p's log.
func waitForLog(t *testing.T, p *proc, msg string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.Logs(), msg) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%q did not appear %d times in 10s:\n%s", msg, n, p.Logs())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Asking for another spelling of a repository (a case variant, a
// VCS-qualified path) does not dodge the rule written for its canonical
// path: the real go command gets the newest allowed version and is told
// which spelling the rule matched.
func TestPolicyOtherSpellings(t *testing.T) {
	up := testproxy.New(t)
	old := time.Now().Add(-1000 * time.Hour)
	for _, mod := range []string{"example.com/Lib", "example.com/lib.git"} {
		for _, v := range []string{"v1.2.0", "v1.3.0"} {
			up.Add(mod, v, map[string]string{"go.mod": "module " + mod + "\n\ngo 1.21\n", "lib.go": "package lib\n"}, old)
		}
	}
	p := serveTestUpstream(t, up, "--policy", writePolicyFile(t, `
[[rule]]
name = "lib-range"
modules = ["example.com/lib"]
versions = ">=1.3.0"
action = "deny"
reason = "v1.3 breaks the build"
`))
	env := goEnv(t, p, up)
	for _, mod := range []string{"example.com/Lib", "example.com/lib.git"} {
		if got, out, err := goGet(t, env, mod+"@latest"); err != nil || got != "v1.2.0" {
			t.Errorf("go get %s@latest = %s, want v1.2.0 (%v)\n%s", mod, got, err, out)
		}
		_, out, err := goGet(t, env, mod+"@v1.3.0")
		if err == nil || !strings.Contains(out, `is denied by rule "lib-range" (as example.com/lib): v1.3 breaks the build`) {
			t.Errorf("go get %s@v1.3.0: %v\n%s", mod, err, out)
		}
	}
}
