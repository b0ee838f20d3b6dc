package integration

import (
	"os"
	"strings"
	"testing"

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
