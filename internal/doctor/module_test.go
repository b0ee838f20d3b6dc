package doctor

import (
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

const appGoMod = `module example.com/app

go 1.21

require example.com/hello v1.0.0
`

// downloaded returns a test environment whose module cache holds
// example.com/hello@v1.0.0, fetched by the real go command from the test
// upstream and verified against its checksum database, and a module
// directory that requires it with a complete go.sum.
func downloaded(t *testing.T) (*testEnv, string) {
	up := testproxy.New(t)
	e := newTestEnv(t, "", "GOSUMDB="+up.GOSUMDB(), "GOFLAGS=-modcacherw")
	mod := filepath.Join(e.dir, "app")
	testutil.WriteFiles(t, mod, map[string]string{"go.mod": appGoMod, "main.go": "package main\n\nimport _ \"example.com/hello\"\n\nfunc main() {}\n"})
	env := append(append([]string(nil), e.environ...), "GOPROXY="+up.URL)
	testutil.MustGo(t, mod, env, "mod", "download", "example.com/hello")
	testutil.MustGo(t, mod, env, "mod", "tidy")
	return e, mod
}

func TestModuleClean(t *testing.T) {
	e, mod := downloaded(t)
	r := e.run(Options{ModuleDir: mod})
	if len(r.Findings) != 0 {
		t.Fatalf("clean module has findings:\n%s", dump(r))
	}
	if r.ModuleDir != mod {
		t.Errorf("ModuleDir %q", r.ModuleDir)
	}
}

// A file changed in the module cache after download: go mod verify fails
// and doctor reports it as critical.
func TestModuleVerifyTampered(t *testing.T) {
	e, mod := downloaded(t)
	dir := filepath.Join(e.dir, "modcache", "example.com", "hello@v1.0.0")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var goFile string
	for _, ent := range ents {
		if strings.HasSuffix(ent.Name(), ".go") {
			goFile = filepath.Join(dir, ent.Name())
		}
	}
	if goFile == "" {
		t.Fatalf("no .go file in %s", dir)
	}
	f, err := os.OpenFile(goFile, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("\nfunc init() { /* planted */ }\n")
	f.Close()

	r := e.run(Options{ModuleDir: mod})
	fd := one(t, r, "GH032")
	if fd.Severity != Critical || !strings.Contains(fd.Message, "example.com/hello@v1.0.0") || fd.Location.Path != dir {
		t.Errorf("finding %+v", fd)
	}
	none(t, r, "GH033")
}

// go mod verify cannot run offline when dependencies are not downloaded;
// doctor says so (low) instead of failing or downloading.
func TestModuleVerifyCannotRun(t *testing.T) {
	e := newTestEnv(t, "")
	mod := filepath.Join(e.dir, "app")
	testutil.WriteFiles(t, mod, map[string]string{
		"go.mod": appGoMod,
		"go.sum": "example.com/hello v1.0.0/go.mod h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
	})
	r := e.run(Options{ModuleDir: mod})
	f := one(t, r, "GH033")
	if f.Severity != Low || !strings.Contains(f.Message, "go mod verify failed") {
		t.Errorf("finding %+v", f)
	}
	none(t, r, "GH032")
	none(t, r, "GH030")
	none(t, r, "GH031")
}

func TestModuleGoSum(t *testing.T) {
	e, mod := downloaded(t)
	sum := filepath.Join(mod, "go.sum")
	data, err := os.ReadFile(sum)
	if err != nil {
		t.Fatal(err)
	}

	// A second requirement with no go.sum line: incomplete.
	gomod := appGoMod + "\nrequire example.com/greet v1.1.0\n"
	writeFile(t, filepath.Join(mod, "go.mod"), gomod, 0o644)
	r := e.run(Options{ModuleDir: mod})
	f := one(t, r, "GH031")
	if !strings.Contains(f.Message, "example.com/greet@v1.1.0") || strings.Contains(f.Message, "example.com/hello") || f.Location.Line != 7 {
		t.Errorf("finding %+v", f)
	}
	if f.Fix == nil || f.Fix.Command != "go mod tidy" {
		t.Errorf("fix %+v", f.Fix)
	}
	none(t, r, "GH030")

	// No go.sum at all.
	writeFile(t, filepath.Join(mod, "go.mod"), appGoMod, 0o644)
	os.Remove(sum)
	r = e.run(Options{ModuleDir: mod})
	one(t, r, "GH030")
	none(t, r, "GH031")

	// Back to complete.
	writeFile(t, sum, string(data), 0o644)
	none(t, e.run(Options{ModuleDir: mod}), "GH031")
}

func TestModuleReplaceAndToolchain(t *testing.T) {
	e := newTestEnv(t, "")
	mod := filepath.Join(e.dir, "app")
	testutil.WriteFiles(t, mod, map[string]string{
		"go.mod":          "module example.com/app\n\ngo 1.21\n\ntoolchain go1.99.1\n\nrequire example.com/hello v1.0.0\n\nreplace example.com/hello => ../hello\n\nreplace example.com/greet v1.0.0 => example.com/greet v1.1.0\n",
		"../hello/go.mod": "module example.com/hello\n\ngo 1.21\n",
	})
	r := e.run(Options{ModuleDir: mod})
	f := one(t, r, "GH034")
	if f.Location.Path != filepath.Join(mod, "go.mod") || f.Location.Line != 9 || !strings.Contains(f.Message, "../hello") {
		t.Errorf("replace finding %+v", f)
	}
	if f.Fix.Command != "go mod edit -dropreplace=example.com/hello" {
		t.Errorf("fix %q", f.Fix.Command)
	}
	// A locally replaced module needs no go.sum line; nothing else is required.
	none(t, r, "GH030")
	none(t, r, "GH031")
	tc := one(t, r, "GH035")
	if tc.Severity != Info || tc.Location.Line != 5 {
		t.Errorf("toolchain finding %+v", tc)
	}

	// With downloads allowed, the toolchain line matters more.
	e.environ = append(e.environ, "GOTOOLCHAIN=auto")
	tc = one(t, e.run(Options{ModuleDir: mod}), "GH035")
	if tc.Severity != Low || tc.Fix == nil || tc.Fix.Command != "export GOTOOLCHAIN=local" {
		t.Errorf("toolchain finding with GOTOOLCHAIN=auto %+v", tc)
	}

	// No replace, no toolchain: nothing.
	writeFile(t, filepath.Join(mod, "go.mod"), "module example.com/app\n\ngo 1.21\n", 0o644)
	r = e.run(Options{ModuleDir: mod})
	if len(r.Findings) != 1 || r.Findings[0].ID != "GH012" { // GOTOOLCHAIN=auto is still set
		t.Errorf("findings:\n%s", dump(r))
	}
}

// The --proxy checks against the hermetic test upstream: a proxy that
// serves a known module and relays a checksum database that vouches for it.
func TestProxyChecks(t *testing.T) {
	up := testproxy.New(t)
	known := "example.com/hello@v1.0.0"
	run := func(t *testing.T, proxy string, vars ...string) *Report {
		e := newTestEnv(t, "", append([]string{"GOSUMDB=" + up.GOSUMDB(), "GOPROXY=" + proxy + ",off"}, vars...)...)
		return e.run(Options{Proxy: proxy, KnownModule: known})
	}
	proxyIDs := []string{"GH040", "GH041", "GH042", "GH043", "GH044", "GH008"}

	t.Run("good", func(t *testing.T) {
		r := run(t, up.URL)
		for _, id := range proxyIDs {
			none(t, r, id)
		}
		if up.Count("/example.com/hello/@v/v1.0.0.zip") == 0 || up.Count("/sumdb/"+testproxy.SumDBName+"/supported") == 0 {
			t.Error("doctor did not fetch the module and ask for the checksum database through the proxy")
		}
	})

	t.Run("goproxy elsewhere", func(t *testing.T) {
		r := run(t, up.URL, "GOPROXY=https://proxy.golang.org,direct")
		if f := one(t, r, "GH044"); f.Fix.Command != "export GOPROXY="+up.URL+",off" {
			t.Errorf("fix %q", f.Fix.Command)
		}
		one(t, r, "GH008") // --proxy implies a proxy is expected
	})

	t.Run("tampered zip", func(t *testing.T) {
		up := testproxy.New(t)
		zip, err := testproxy.BuildZip("example.com/hello", "v1.0.0", map[string]string{
			"go.mod": string(up.Artifacts("example.com/hello", "v1.0.0").Mod), "hello.go": "package hello\n\nfunc World() string { return \"pwned\" }\n",
		})
		if err != nil {
			t.Fatal(err)
		}
		up.Tamper("example.com/hello", "v1.0.0", "zip", zip)
		e := newTestEnv(t, "", "GOSUMDB="+up.GOSUMDB(), "GOPROXY="+up.URL)
		f := one(t, e.run(Options{Proxy: up.URL, KnownModule: known}), "GH042")
		if f.Severity != Critical || !strings.Contains(f.Message, "zip") || f.Location.URL != up.URL {
			t.Errorf("finding %+v", f)
		}
	})

	t.Run("tampered go.mod", func(t *testing.T) {
		up := testproxy.New(t)
		up.Tamper("example.com/hello", "v1.0.0", "mod", []byte("module example.com/hello\n\ngo 1.21\n\nrequire example.com/evil v1.0.0\n"))
		e := newTestEnv(t, "", "GOSUMDB="+up.GOSUMDB(), "GOPROXY="+up.URL)
		f := one(t, e.run(Options{Proxy: up.URL, KnownModule: known}), "GH042")
		if !strings.Contains(f.Message, "go.mod") {
			t.Errorf("finding %+v", f)
		}
	})

	t.Run("database signed by another key", func(t *testing.T) {
		// The proxy relays a database under the trusted name but signed
		// with a key we do not trust: the client must refuse it.
		_, otherKey, err := note.GenerateKey(rand.Reader, testproxy.SumDBName)
		if err != nil {
			t.Fatal(err)
		}
		r := run(t, up.URL, "GOSUMDB="+otherKey)
		f := one(t, r, "GH043")
		if f.Severity < High {
			t.Errorf("finding %+v", f)
		}
		none(t, r, "GH042")
	})

	t.Run("unknown module", func(t *testing.T) {
		e := newTestEnv(t, "", "GOSUMDB="+up.GOSUMDB(), "GOPROXY="+up.URL)
		f := one(t, e.run(Options{Proxy: up.URL, KnownModule: "example.com/nothere@v1.0.0"}), "GH043")
		if !strings.Contains(f.Message, "example.com/nothere@v1.0.0") {
			t.Errorf("finding %+v", f)
		}
	})

	t.Run("no checksum database", func(t *testing.T) {
		// A plain module proxy that does not relay /sumdb/.
		plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/sumdb/") {
				http.NotFound(w, r)
				return
			}
			http.Redirect(w, r, up.URL+r.URL.Path, http.StatusFound)
		}))
		defer plain.Close()
		r := run(t, plain.URL)
		f := one(t, r, "GH041")
		if !strings.Contains(f.Message, "/sumdb/"+testproxy.SumDBName+"/supported") {
			t.Errorf("finding %+v", f)
		}
		none(t, r, "GH043")
	})

	t.Run("server error", func(t *testing.T) {
		up := testproxy.New(t)
		up.SetStatus(http.StatusServiceUnavailable)
		r := run(t, up.URL)
		one(t, r, "GH040")
		none(t, r, "GH041")
	})

	t.Run("nothing listening", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		url := dead.URL
		dead.Close()
		f := one(t, run(t, url), "GH040")
		if f.Severity != High {
			t.Errorf("finding %+v", f)
		}
	})

	t.Run("slow proxy is bounded", func(t *testing.T) {
		up := testproxy.New(t)
		up.SetDelay(3 * time.Second)
		e := newTestEnv(t, "", "GOSUMDB="+up.GOSUMDB(), "GOPROXY="+up.URL)
		opts := Options{Proxy: up.URL, KnownModule: known, HTTPClient: &http.Client{Timeout: 200 * time.Millisecond}}
		start := time.Now()
		one(t, e.run(opts), "GH040")
		if time.Since(start) > 10*time.Second {
			t.Errorf("took %v", time.Since(start))
		}
	})
}
