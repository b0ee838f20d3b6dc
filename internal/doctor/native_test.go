package doctor

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// nativeFiles is a module whose packages use cgo; unsafe; unsafe, linkname
// and assembly.
var nativeFiles = map[string]string{
	"go.mod":            "module example.com/native\n\ngo 1.21\n",
	"cgo/cgo.go":        "package cgo\n\n/*\nstatic int one(void) { return 1; }\n*/\nimport \"C\"\n\nfunc One() int { return int(C.one()) }\n",
	"ptr/ptr.go":        "package ptr\n\nimport (\n\t\"fmt\"\n\t\"unsafe\"\n)\n\nfunc Size() string { var x int; return fmt.Sprint(unsafe.Sizeof(x)) }\n",
	"link/doc.go":       "// Package link reaches into the runtime.\npackage link\n",
	"link/link.go":      "package link\n\nimport _ \"unsafe\"\n\n// nanotime is the runtime's clock.\n//\n//go:linkname nanotime runtime.nanotime\nfunc nanotime() int64\n\nfunc Now() int64 { return nanotime() }\n",
	"link/link_amd64.s": "// empty: lets the body-less function compile\n",
}

// nativeModule returns a test environment and a module directory whose
// build list holds example.com/native (served by the hermetic upstream and
// downloaded by the real go command), example.com/hello (pure Go), and a
// main-module package using unsafe.
func nativeModule(t *testing.T, vars ...string) (*testEnv, string) {
	t.Helper()
	up := testproxy.New(t)
	if err := up.Add("example.com/native", "v1.0.0", nativeFiles, time.Now()); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t, "", append([]string{"GOSUMDB=" + up.GOSUMDB(), "GOFLAGS=-modcacherw"}, vars...)...)
	mod := filepath.Join(e.dir, "app")
	testutil.WriteFiles(t, mod, map[string]string{
		"go.mod": "module example.com/app\n\ngo 1.21\n\nrequire (\n\texample.com/hello v1.0.0\n\texample.com/native v1.0.0\n)\n",
		"main.go": "package main\n\nimport (\n\t_ \"example.com/app/fast\"\n\t_ \"example.com/hello\"\n\t_ \"example.com/native/cgo\"\n" +
			"\t_ \"example.com/native/link\"\n\t_ \"example.com/native/ptr\"\n)\n\nfunc main() {}\n",
		"fast/fast.go": "package fast\n\nimport \"unsafe\"\n\nvar Size = unsafe.Sizeof(0)\n",
	})
	env := append(append([]string(nil), e.environ...), "GOPROXY="+up.URL)
	testutil.MustGo(t, mod, env, "mod", "download", "all")
	testutil.MustGo(t, mod, env, "mod", "tidy")
	return e, mod
}

func uses(p NativePackage) string {
	var ks []string
	for _, u := range p.Uses {
		ks = append(ks, u.Kind)
	}
	return strings.Join(ks, ",")
}

func TestNativeInventory(t *testing.T) {
	e, mod := nativeModule(t, "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64")
	r := e.run(Options{ModuleDir: mod, BuildList: true})
	if len(r.Findings) != 0 {
		t.Fatalf("an inventory without --deny has findings:\n%s", dump(r))
	}
	nr := r.Native
	if nr == nil || nr.CGOEnabled != "1" || nr.GOOS != "linux" || nr.GOARCH != "amd64" || strings.Join(nr.Patterns, " ") != "./..." {
		t.Fatalf("native report %+v", nr)
	}
	if len(nr.Modules) != 2 {
		t.Fatalf("want the main module and example.com/native, got %+v", nr.Modules)
	}
	app, native := nr.Modules[0], nr.Modules[1]
	if !app.Main || app.Path != "example.com/app" || len(app.Packages) != 1 || app.Packages[0].ImportPath != "example.com/app/fast" || uses(app.Packages[0]) != "unsafe" {
		t.Errorf("main module %+v", app)
	}
	if u := app.Packages[0].Uses[0]; u.Path != filepath.Join(mod, "fast", "fast.go") || u.Line != 3 {
		t.Errorf("main module unsafe at %+v", u)
	}
	if native.ID() != "example.com/native@v1.0.0" || len(native.Packages) != 3 {
		t.Fatalf("native module %+v", native)
	}
	want := map[string]string{
		"example.com/native/cgo":  "cgo",
		"example.com/native/link": "unsafe,linkname,asm",
		"example.com/native/ptr":  "unsafe",
	}
	dir := filepath.Join(e.dir, "modcache", "example.com", "native@v1.0.0")
	for _, p := range native.Packages {
		if uses(p) != want[p.ImportPath] {
			t.Errorf("%s uses %q, want %q", p.ImportPath, uses(p), want[p.ImportPath])
		}
		for _, u := range p.Uses {
			var wantPath string
			var wantLine int
			switch p.ImportPath + " " + u.Kind {
			case "example.com/native/cgo cgo":
				wantPath, wantLine = "cgo/cgo.go", 6
			case "example.com/native/ptr unsafe":
				wantPath, wantLine = "ptr/ptr.go", 5
			case "example.com/native/link unsafe":
				wantPath, wantLine = "link/link.go", 3
			case "example.com/native/link linkname":
				wantPath, wantLine = "link/link.go", 7
			case "example.com/native/link asm":
				wantPath = "link/link_amd64.s"
			}
			if u.Path != filepath.Join(dir, wantPath) || u.Line != wantLine {
				t.Errorf("%s %s at %s:%d, want %s:%d", p.ImportPath, u.Kind, u.Path, u.Line, wantPath, wantLine)
			}
		}
	}
}

func TestNativeDeny(t *testing.T) {
	e, mod := nativeModule(t, "CGO_ENABLED=1", "GOOS=linux", "GOARCH=amd64")
	rule := func(s string) DenyRule {
		d, err := ParseDenyRule(s)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	r := e.run(Options{ModuleDir: mod, Deny: []DenyRule{rule("cgo,unsafe:example.com/native")}})
	if r.Native == nil {
		t.Fatal("--deny without the inventory")
	}
	fs := findings(r, "GH050")
	got := map[string]bool{}
	for _, f := range fs {
		if f.Severity != High || f.Location.Line == 0 || !strings.Contains(f.Message, "denied by --deny cgo,unsafe:example.com/native") {
			t.Errorf("finding %+v", f)
		}
		got[strings.Fields(f.Message)[0]+" "+strings.Fields(f.Message)[4]] = true
	}
	for _, w := range []string{"example.com/native/cgo cgo", "example.com/native/ptr unsafe", "example.com/native/link unsafe"} {
		if !got[w] {
			t.Errorf("no finding for %s; got %v", w, got)
		}
	}
	if len(fs) != 3 {
		t.Errorf("want 3 findings (the main module's unsafe does not match the pattern), got:\n%s", dump(r))
	}

	// No pattern: every module, the main one too.
	r = e.run(Options{ModuleDir: mod, Deny: []DenyRule{rule("linkname"), rule("unsafe:example.com/app")}})
	fs = findings(r, "GH050")
	if len(fs) != 2 {
		t.Fatalf("want 2 findings, got:\n%s", dump(r))
	}
	// A pattern that matches nothing, a glob that does.
	r = e.run(Options{ModuleDir: mod, Deny: []DenyRule{rule("cgo,asm:example.com/nat"), rule("asm:example.com/*")}})
	if fs = findings(r, "GH050"); len(fs) != 1 || !strings.HasSuffix(fs[0].Location.Path, "link_amd64.s") {
		t.Fatalf("want 1 asm finding, got:\n%s", dump(r))
	}
}

// With CGO_ENABLED=0 the target builds no cgo: doctor says so, and the
// package that only has cgo files does not build (a GH051 finding).
func TestNativeCgoDisabled(t *testing.T) {
	e, mod := nativeModule(t, "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	r := e.run(Options{ModuleDir: mod, BuildList: true})
	if r.Native.CGOEnabled != "0" {
		t.Errorf("cgo_enabled %q", r.Native.CGOEnabled)
	}
	for _, m := range r.Native.Modules {
		for _, p := range m.Packages {
			if strings.Contains(uses(p), "cgo") {
				t.Errorf("%s reported as cgo with CGO_ENABLED=0", p.ImportPath)
			}
		}
	}
	if f := one(t, r, "GH051"); !strings.Contains(f.Message, "example.com/native/cgo") {
		t.Errorf("finding %+v", f)
	}
}

// doctor never downloads: a dependency missing from the module cache is a
// GH051 finding, not a fetch.
func TestNativeNotDownloaded(t *testing.T) {
	e := newTestEnv(t, "")
	mod := filepath.Join(e.dir, "app")
	testutil.WriteFiles(t, mod, map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.21\n\nrequire example.com/hello v1.0.0\n",
		"go.sum":  "",
		"main.go": "package main\n\nimport _ \"example.com/hello\"\n\nfunc main() {}\n",
	})
	r := e.run(Options{ModuleDir: mod, BuildList: true})
	f := one(t, r, "GH051")
	if f.Location.Path != filepath.Join(mod, "go.mod") || f.Severity != Low {
		t.Errorf("finding %+v", f)
	}
	// With --deny, an unlisted build list must not pass a --fail-on high
	// gate: what it denies could not be checked.
	deny, _ := ParseDenyRule("cgo")
	r = e.run(Options{ModuleDir: mod, Deny: []DenyRule{deny}})
	if f := one(t, r, "GH051"); f.Severity != High || !strings.Contains(f.Message, "--deny cgo could not be checked") {
		t.Errorf("finding with --deny %+v", f)
	}
}

func TestParseDenyRule(t *testing.T) {
	d, err := ParseDenyRule("CGO, unsafe:example.com/a/*,example.com/b")
	if err != nil || strings.Join(d.Kinds, ",") != "cgo,unsafe" || d.Patterns != "example.com/a/*,example.com/b" {
		t.Fatalf("%+v %v", d, err)
	}
	if !d.denies("cgo", "example.com/a/x") || !d.denies("unsafe", "example.com/b/v2") || d.denies("cgo", "example.com/c") || d.denies("asm", "example.com/b") {
		t.Error("denies")
	}
	for _, bad := range []string{"", ":example.com", "rust:example.com", "cgo,,unsafe"} {
		if _, err := ParseDenyRule(bad); err == nil {
			t.Errorf("ParseDenyRule(%q) accepted", bad)
		}
	}
	if _, err := Run(t.Context(), Options{Deny: []DenyRule{d}}); err == nil || !strings.Contains(err.Error(), "--module") {
		t.Errorf("--deny without --module: %v", err)
	}
}
