package integration

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// TestLiveProxyGolangOrg downloads real modules through gatehouse from the
// public Go module proxy, verified by gatehouse and by the go command
// against sum.golang.org (reached through gatehouse). It is the one test
// that touches the internet: it runs only with GATEHOUSE_LIVE=1.
func TestLiveProxyGolangOrg(t *testing.T) {
	if os.Getenv("GATEHOUSE_LIVE") != "1" {
		t.Skip("set GATEHOUSE_LIVE=1 to run the live test against proxy.golang.org")
	}
	p := startServe(t, "") // all defaults: proxy.golang.org, sum.golang.org
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		// BurntSushi: a path with upper case, which go sends case-escaped
		// and percent-encoded (%21burnt%21sushi).
		"go.mod": "module example.com/live\n\ngo 1.21\n\nrequire (\n\tgithub.com/BurntSushi/toml v1.6.0\n\tgithub.com/google/uuid v1.6.0\n\tgolang.org/x/sync v0.10.0\n)\n",
		"main.go": `package main

import (
	"github.com/BurntSushi/toml"
	"github.com/google/uuid"
	"golang.org/x/sync/errgroup"
)

func main() {
	var g errgroup.Group
	g.Go(func() error { println(uuid.NewString() != ""); return nil })
	var v struct{ A int }
	toml.Decode("A = 1", &v)
	println(v.A == 1)
	g.Wait()
}
`,
	})
	env := testutil.GoEnv(t, "GOPROXY="+p.URL, "GOSUMDB=sum.golang.org")
	testutil.MustGo(t, dir, env, "mod", "tidy")
	testutil.MustGo(t, dir, env, "mod", "download", "all")
	if out := testutil.MustGo(t, dir, env, "mod", "verify"); !strings.Contains(out, "all modules verified") {
		t.Fatalf("go mod verify: %s", out)
	}
	if out := testutil.MustGo(t, dir, env, "run", "."); !strings.Contains(out, "true") {
		t.Fatalf("go run: %s", out)
	}
	p.LogsContain("path=/sumdb/sum.golang.org/lookup/") // request lines are written out in batches
	logs := p.Logs()
	// The go command reached sum.golang.org through gatehouse, not directly.
	for _, want := range []string{"stored from upstream", "github.com/google/uuid", "github.com/BurntSushi/toml", "h1=", "path=/sumdb/sum.golang.org/supported", "path=/sumdb/sum.golang.org/lookup/"} {
		if !strings.Contains(logs, want) {
			t.Errorf("gatehouse log lacks %q", want)
		}
	}
	if strings.Contains(logs, "level=ERROR") {
		t.Errorf("errors in gatehouse's log:\n%s", logs)
	}
}

// TestLiveModuleIndex runs a 72h cool-down against the real index.golang.org
// (the default module_index): a release of 2024 is not in the index's last
// 73 hours, so it is old enough and served. Hermetic tests use the test
// upstream's fake index; this one needs the internet: GATEHOUSE_LIVE=1.
func TestLiveModuleIndex(t *testing.T) {
	if os.Getenv("GATEHOUSE_LIVE") != "1" {
		t.Skip("set GATEHOUSE_LIVE=1 to run the live test against index.golang.org")
	}
	p := startServe(t, "", "--policy", writePolicyFile(t, `
[[rule]]
name = "cool-down"
min_age = "72h"
action = "deny"
reason = "releases younger than 72h are held back"
`))
	// Reading the last 73 hours of the index takes a while; until then an
	// unlisted version is dated by first sight (refused as too new).
	for deadline := time.Now().Add(5 * time.Minute); !strings.Contains(p.Logs(), "module index: read up to now"); time.Sleep(time.Second) {
		if time.Now().After(deadline) {
			t.Fatalf("the module index was not read within 5 minutes:\n%s", p.Logs())
		}
	}
	env := testutil.GoEnv(t, "GOPROXY="+p.URL, "GOSUMDB=sum.golang.org")
	if out, err := testutil.Go(t, t.TempDir(), env, "mod", "download", "-json", "golang.org/x/sync@v0.10.0"); err != nil {
		t.Fatalf("an old release under a cool-down: %v\n%s", err, out)
	}
	if !p.LogsContain("module_index=https://index.golang.org/index") {
		t.Errorf("the module index was not used:\n%s", p.Logs())
	}
	if strings.Contains(p.Logs(), "module index: read failed") {
		t.Errorf("reading the index failed:\n%s", p.Logs())
	}
}
