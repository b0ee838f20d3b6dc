package coldbench

import (
	"os"
	"runtime"
	"strings"
	"testing"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
)

// TestHermeticProjectShape checks the generated project without building
// it (that is the benchmark's job): valid module versions, the shapes that
// need escaping, and older versions that really sort below the selected ones.
func TestHermeticProjectShape(t *testing.T) {
	mods := hermeticProject()
	if len(mods) != hermeticModules+14 {
		t.Fatalf("%d module versions, want %d selected and 14 older", len(mods), hermeticModules)
	}
	selected := map[string]string{}
	shapes := map[string]bool{}
	total := 0
	for i, m := range mods {
		if err := module.Check(m.path, m.version); err != nil {
			t.Errorf("%s@%s: %v", m.path, m.version, err)
		}
		if i < hermeticModules {
			selected[m.path] = m.version
			total += m.size
		} else if v := selected[m.path]; v == "" || semver.Compare(m.version, v) >= 0 {
			t.Errorf("older %s@%s is not below the selected %q", m.path, m.version, v)
		}
		esc, _ := module.EscapePath(m.path)
		shapes["escaped"] = shapes["escaped"] || esc != m.path
		shapes["pseudo"] = shapes["pseudo"] || module.IsPseudoVersion(m.version)
		shapes["gopkg.in"] = shapes["gopkg.in"] || strings.HasPrefix(m.path, "gopkg.in/")
		shapes["/v2"] = shapes["/v2"] || strings.HasSuffix(m.path, "/v2")
	}
	if len(selected) != hermeticModules {
		t.Errorf("%d distinct module paths selected, want %d", len(selected), hermeticModules)
	}
	for _, s := range []string{"escaped", "pseudo", "gopkg.in", "/v2"} {
		if !shapes[s] {
			t.Errorf("no %s module in the project", s)
		}
	}
	if total < 40<<20 || total > 80<<20 {
		t.Errorf("%d MB of source, want 40-80", total>>20)
	}
	if n := strings.Count(goModOf(mods), "\n\t"); n != hermeticModules {
		t.Errorf("go.mod requires %d modules, want %d", n, hermeticModules)
	}
}

// TestLiveProjectModuleList: the live mode's project is a real module list
// of 70+ modules, every one a valid module version.
func TestLiveProjectModuleList(t *testing.T) {
	data, err := os.ReadFile("testdata/lazygit/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	f, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Require) < 70 || len(f.Replace) != 0 {
		t.Errorf("%d requirements and %d replacements; want 70+ and none", len(f.Require), len(f.Replace))
	}
	for _, r := range f.Require {
		if err := module.Check(r.Mod.Path, r.Mod.Version); err != nil {
			t.Error(err)
		}
	}
	if f.Go == nil {
		t.Fatal("no go directive")
	}
	if v := "v" + strings.TrimPrefix(runtime.Version(), "go"); semver.IsValid(v) && semver.Compare("v"+f.Go.Version, v) > 0 {
		t.Errorf("go %s: newer than this toolchain, which GOTOOLCHAIN=local cannot use", f.Go.Version)
	}
}
