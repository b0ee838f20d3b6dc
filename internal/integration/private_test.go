package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testgit"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

const gitSecret = "gh-test-s3cret-9f2c7a"

// privateEnv is one git host, one public test upstream and one gatehouse
// data dir shared by the steps of TestPrivateModules: the real go and git
// round trips cost seconds each.
type privateEnv struct {
	git     *testgit.Server
	repo    *testgit.Repo
	up      *testproxy.Server
	data    string
	config  string
	gosumdb string   // what clients put in GOSUMDB
	outputs []string // everything any client or server printed, for the secret check
}

func newPrivateEnv(t *testing.T) *privateEnv {
	e := &privateEnv{data: t.TempDir()}
	e.git = testgit.New(t, "deploy", gitSecret, "git.corp.test", "evil.test")
	e.repo = e.git.CreateRepo(t, "lib")
	e.repo.Commit(t, map[string]string{
		"go.mod": "module git.corp.test/lib\n\ngo 1.21\n",
		"lib.go": "package lib\n\nfunc Name() string { return \"private v1.0.0\" }\n",
	})
	e.repo.Tag(t, "v1.0.0")
	e.repo.Commit(t, map[string]string{"lib.go": "package lib\n\nfunc Name() string { return \"private v1.1.0\" }\n"})
	e.repo.Tag(t, "v1.1.0")
	// A go-import tag on the listed host that sends fetches to another host.
	e.git.SetMeta("git.corp.test/redirect", "https://evil.test/lib.git")
	e.up = testproxy.New(t)
	e.config = filepath.Join(t.TempDir(), "gatehouse.toml")
	os.WriteFile(e.config, []byte(`
private = ["git.corp.test", "*.internal.test"]
private_hosts = ["git.corp.test"]
private_timeout = "1m"

[[private_netrc]]
machine = "git.corp.test"
login = "deploy"
password = "`+gitSecret+`"
`), 0o600)
	out, err := exec.Command(gatehouseBin, "sumdb", "key", "--config", e.config, "--data", e.data).CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gatehouse+") {
		t.Fatalf("gatehouse sumdb key: %v\n%s", err, out)
	}
	e.gosumdb = strings.TrimSpace(string(out))
	return e
}

// start runs serve without prefetch: "moved tag" needs a version whose
// zip no client fetched, and prefetch fetches a zip as soon as a client
// reads its .info (go list -m @latest does, in "list and latest"). With
// the zip stored before the tag moved, the original is simply served: no
// error to check.
func (e *privateEnv) start(t *testing.T) *proc {
	return startServeEnv(t, e.data, e.git.Env(), "--config", e.config, "--upstream", e.up.URL, "--sumdb", e.up.GOSUMDB(), "--prefetch-workers", "0")
}

// goEnv is a client with only GOPROXY and GOSUMDB set: no GOPRIVATE,
// GONOSUMDB or GOINSECURE, no proxy or CA for the git host.
func (e *privateEnv) goEnv(t *testing.T, p *proc) []string {
	return testutil.GoEnv(t, "GOPROXY="+p.URL, "GOSUMDB="+e.gosumdb)
}

func (e *privateEnv) run(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	out, err := testutil.Go(t, dir, env, args...)
	e.outputs = append(e.outputs, out)
	return out, err
}

func (e *privateEnv) mustRun(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := e.run(t, dir, env, args...)
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (e *privateEnv) get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, body := get(t, url)
	e.outputs = append(e.outputs, body)
	return resp.StatusCode, body
}

func TestPrivateModules(t *testing.T) {
	testutil.RequireCommand(t, "git")
	e := newPrivateEnv(t)
	p := e.start(t)

	// The go command, trusting only gatehouse's own checksum log, gets and
	// verifies a private module and a public one through gatehouse.
	t.Run("download and verify", func(t *testing.T) {
		dir := t.TempDir()
		testutil.WriteFiles(t, dir, map[string]string{
			"go.mod": "module example.com/app\n\ngo 1.21\n\nrequire (\n\tgit.corp.test/lib v1.0.0\n\texample.com/hello v1.0.0\n)\n",
			"main.go": `package main

import (
	"example.com/hello"
	"git.corp.test/lib"
)

func main() { println(lib.Name(), hello.World()) }
`,
		})
		env := e.goEnv(t, p)
		e.mustRun(t, dir, env, "mod", "tidy")
		if out := e.mustRun(t, dir, env, "mod", "verify"); !strings.Contains(out, "all modules verified") {
			t.Fatalf("go mod verify: %s", out)
		}
		if out := e.mustRun(t, dir, env, "run", "."); !strings.Contains(out, "private v1.0.0 Hello, world!") {
			t.Fatalf("go run: %s", out)
		}
		gosum, _ := os.ReadFile(filepath.Join(dir, "go.sum"))
		for _, want := range []string{"git.corp.test/lib v1.0.0 h1:", "git.corp.test/lib v1.0.0/go.mod h1:", "example.com/hello v1.0.0 h1:"} {
			if !strings.Contains(string(gosum), want) {
				t.Errorf("go.sum lacks %q:\n%s", want, gosum)
			}
		}
		logs := p.Logs()
		for _, want := range []string{"/sumdb/gatehouse/lookup/git.corp.test/lib@v1.0.0", "/sumdb/gatehouse/lookup/example.com/hello@v1.0.0"} {
			if !strings.Contains(logs, want) {
				t.Errorf("the client did not verify through gatehouse's log: no %s in\n%s", want, logs)
			}
		}
		// The private module never went near the public upstream or its
		// database, even when a client asks that database through gatehouse.
		if code, _ := e.get(t, p.URL+"/sumdb/"+testproxy.SumDBName+"/lookup/git.corp.test/lib@v1.0.0"); code != 404 {
			t.Errorf("public database lookup of a private module through gatehouse: %d, want 404", code)
		}
		for _, path := range []string{"/git.corp.test/lib/@v/v1.0.0.mod", "/git.corp.test/lib/@v/list", "/sumdb/" + testproxy.SumDBName + "/lookup/git.corp.test/lib@v1.0.0"} {
			if n := e.up.Count(path); n != 0 {
				t.Errorf("the public upstream was asked for %s", path)
			}
		}
		if strings.Contains(logs, "stored without checksum verification") {
			t.Error("something was stored unverified")
		}
	})

	t.Run("list and latest", func(t *testing.T) {
		env := e.goEnv(t, p)
		if out := e.mustRun(t, t.TempDir(), env, "list", "-m", "-versions", "git.corp.test/lib"); strings.TrimSpace(out) != "git.corp.test/lib v1.0.0 v1.1.0" {
			t.Errorf("go list -versions: %q", out)
		}
		if out := e.mustRun(t, t.TempDir(), env, "list", "-m", "git.corp.test/lib@latest"); strings.TrimSpace(out) != "git.corp.test/lib v1.1.0" {
			t.Errorf("go list @latest: %q", out)
		}
	})

	// A private path whose host is not on the list, and a go-import tag
	// that points at an unlisted host, are refused without a connection.
	t.Run("unlisted hosts", func(t *testing.T) {
		env := e.goEnv(t, p)
		before := e.git.Accepted()
		out, err := e.run(t, t.TempDir(), env, "mod", "download", "secret.internal.test/x@v1.0.0")
		if err == nil || !strings.Contains(out, "403 Forbidden") || !strings.Contains(out, "not on this proxy's direct-fetch list") {
			t.Errorf("crafted path: err %v, output:\n%s", err, out)
		}
		if code, _ := e.get(t, p.URL+"/secret.internal.test/x/@v/list"); code != 403 {
			t.Errorf("list of crafted path: %d, want 403", code)
		}
		if n := e.git.Accepted() - before; n != 0 {
			t.Errorf("%d connections were made for a host not on the list", n)
		}
		if out, err := e.run(t, t.TempDir(), env, "mod", "download", "git.corp.test/redirect@v1.0.0"); err == nil || !strings.Contains(out, "502 Bad Gateway") {
			t.Errorf("module behind a go-import tag to evil.test: err %v, want a 502:\n%s", err, out)
		}
		if n := e.git.Connects("evil.test"); n != 0 {
			t.Errorf("evil.test was contacted %d times", n)
		}
	})

	// The log survives a restart; a tag moved after gatehouse recorded the
	// version is refused with both hashes, and the original stays served.
	t.Run("moved tag", func(t *testing.T) {
		// A client that needed only v1.1.0's go.mod (as go mod tidy does
		// for modules outside the build): gatehouse records both hashes.
		code, origMod := e.get(t, p.URL+"/git.corp.test/lib/@v/v1.1.0.mod")
		if code != 200 {
			t.Fatalf("v1.1.0.mod: %d %s", code, origMod)
		}
		code, record := e.get(t, p.URL+"/sumdb/gatehouse/lookup/git.corp.test/lib@v1.1.0")
		if code != 200 {
			t.Fatalf("lookup: %d %s", code, record)
		}
		recorded := hashIn(record, "git.corp.test/lib v1.1.0 ")
		if !strings.HasPrefix(recorded, "h1:") {
			t.Fatalf("no zip hash in the record:\n%s", record)
		}
		p.stop(t)
		e.outputs = append(e.outputs, p.Logs())

		e.repo.Commit(t, map[string]string{"lib.go": "package lib\n\nfunc Name() string { return \"pwned\" }\n"})
		e.repo.Tag(t, "v1.1.0")

		p2 := e.start(t)
		env := e.goEnv(t, p2)
		out, err := e.run(t, t.TempDir(), env, "mod", "download", "git.corp.test/lib@v1.1.0")
		if err == nil || !strings.Contains(out, "SECURITY ERROR") || !strings.Contains(out, "checksum log gatehouse: "+recorded) || !strings.Contains(out, "moved tag") {
			t.Fatalf("moved tag: err %v, want a SECURITY ERROR naming %s:\n%s", err, recorded, out)
		}
		t.Logf("go mod download of the moved tag:\n%s", out)
		downloaded := hashIn(out, "downloaded: ")
		if !strings.HasPrefix(downloaded, "h1:") || downloaded == recorded {
			t.Errorf("the error does not name the moved tag's hash:\n%s", out)
		}
		logs := p2.Logs()
		if !strings.Contains(logs, "SECURITY") || !strings.Contains(logs, `recorded="`+recorded) || !strings.Contains(logs, `downloaded="`+downloaded) {
			t.Errorf("no security event with both hashes in the log:\n%s", logs)
		}
		// The original is what gatehouse still serves and vouches for.
		if code, mod := e.get(t, p2.URL+"/git.corp.test/lib/@v/v1.1.0.mod"); code != 200 || mod != origMod {
			t.Errorf("original go.mod: %d %q", code, mod)
		}
		if code, again := e.get(t, p2.URL+"/sumdb/gatehouse/lookup/git.corp.test/lib@v1.1.0"); code != 200 || hashIn(again, "git.corp.test/lib v1.1.0 ") != recorded {
			t.Errorf("the log changed after the moved tag:\n%s", again)
		}
		// v1.0.0, verified before the restart, still verifies from the log.
		dir := t.TempDir()
		testutil.WriteFiles(t, dir, map[string]string{"go.mod": "module example.com/app\n\ngo 1.21\n\nrequire git.corp.test/lib v1.0.0\n"})
		e.mustRun(t, dir, env, "mod", "download", "git.corp.test/lib")
		p2.stop(t)
		e.outputs = append(e.outputs, p2.Logs())
	})

	// A record changed on disk is reported at start, and nothing is served.
	t.Run("tampered log refused at start", func(t *testing.T) {
		records := filepath.Join(e.data, ".gatehouse", "own-sumdb", "gatehouse", "records")
		data, err := os.ReadFile(records)
		if err != nil {
			t.Fatal(err)
		}
		i := strings.Index(string(data), "h1:") + 3
		data[i] ^= 1
		os.WriteFile(records, data, 0o600)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, gatehouseBin, "serve", "--listen", "127.0.0.1:0", "--data", e.data, "--config", e.config,
			"--upstream", e.up.URL, "--sumdb", e.up.GOSUMDB())
		cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, e.git.Env()...)
		out, err := cmd.CombinedOutput()
		e.outputs = append(e.outputs, string(out))
		if err == nil || !strings.Contains(string(out), "SECURITY ERROR: checksum log") || !strings.Contains(string(out), "record 0 was altered") {
			t.Errorf("gatehouse started on a tampered log (err %v):\n%s", err, out)
		}
	})

	t.Run("credentials never shown", func(t *testing.T) {
		e.outputs = append(e.outputs, p.Logs())
		for i, out := range e.outputs {
			if strings.Contains(out, gitSecret) {
				t.Errorf("output %d contains the git password:\n%s", i, out)
			}
		}
		if len(e.outputs) < 10 {
			t.Errorf("only %d outputs checked", len(e.outputs))
		}
	})
}

// hashIn returns the word after prefix in text.
func hashIn(text, prefix string) string {
	_, rest, ok := strings.Cut(text, prefix)
	if !ok {
		return ""
	}
	return strings.Fields(rest + " ")[0]
}
