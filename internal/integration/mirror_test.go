package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
)

// mirror takes module@latest, --all-versions and go.sum arguments, and the
// policy refuses what it denies: reported, not stored, exit status 1.
func TestMirrorArgumentsAndPolicy(t *testing.T) {
	up := testproxy.New(t)
	data := t.TempDir()
	base := []string{"mirror", "--data", data, "--upstream", up.URL, "--sumdb", up.GOSUMDB()}

	out := mustGatehouse(t, append(base, "--all-versions", "example.com/lib@latest")...)
	if !strings.Contains(out, "4 fetched, 0 already stored, 0 refused") {
		t.Fatalf("mirror --all-versions: %s", out)
	}
	if out := mustGatehouse(t, append(base, "example.com/greet@latest", "example.com/lib@v1.3.0")...); !strings.Contains(out, "1 fetched, 1 already stored, 0 refused") {
		t.Fatalf("mirror @latest: %s", out)
	}
	for _, v := range []string{"v1.0.0", "v1.1.0", "v1.2.0", "v1.3.0"} {
		if _, err := os.Stat(filepath.Join(data, "example.com/lib/@v", v+".zip")); err != nil {
			t.Errorf("lib %s not stored: %v", v, err)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "example.com/greet/@v/v1.0.0.zip")); err == nil {
		t.Errorf("greet@latest stored v1.0.0 too")
	}

	// A go.sum: versions with a zip line are downloaded, go.mod-only ones
	// get their go.mod.
	sum := filepath.Join(t.TempDir(), "go.sum")
	hello, _ := up.Lookup(t.Context(), "example.com/hello", "v1.0.0")
	greet, _ := up.Lookup(t.Context(), "example.com/greet", "v1.0.0")
	var mod string
	for _, l := range strings.Split(greet, "\n") {
		if strings.Contains(l, "/go.mod") {
			mod = l + "\n"
		}
	}
	os.WriteFile(sum, []byte(hello+mod), 0o644)
	out = mustGatehouse(t, append(base, sum)...)
	if !strings.Contains(out, "2 fetched, 0 already stored, 0 refused") {
		t.Fatalf("mirror go.sum: %s", out)
	}
	if _, err := os.Stat(filepath.Join(data, "example.com/greet/@v/v1.0.0.mod")); err != nil {
		t.Errorf("go.mod-only version's go.mod not stored: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "example.com/greet/@v/v1.0.0.zip")); err == nil {
		t.Errorf("go.mod-only version's zip stored")
	}

	policy := filepath.Join(t.TempDir(), "policy.toml")
	os.WriteFile(policy, []byte("[[rule]]\nname = \"no-caps\"\nmodules = [\"example.com/Caps\"]\naction = \"deny\"\nreason = \"not approved\"\n"), 0o644)
	out, err := runGatehouse(t, append(base, "--policy", policy, "--module-index", "off", "example.com/Caps@v1.0.0", "example.com/hello/v2@v2.0.0")...)
	if err == nil || !strings.Contains(out, "1 fetched, 0 already stored, 1 refused") || !strings.Contains(out, "refused example.com/Caps@v1.0.0") {
		t.Fatalf("mirror with a denying policy: err %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(data, "example.com/!caps/@v/v1.0.0.zip")); err == nil {
		t.Errorf("a module the policy denies was stored")
	}

	// A go.mod the go command cannot read: a clear error, exit 1.
	badDir := t.TempDir()
	os.WriteFile(filepath.Join(badDir, "go.mod"), []byte("module example.com/x\n\nrequire example.com/hello v9.9.9\n"), 0o644)
	out, err = runGatehouse(t, append(base, badDir)...)
	if err == nil || !strings.Contains(out, "gatehouse mirror: go mod download") {
		t.Errorf("mirror of a go.mod whose build list cannot load: err %v\n%s", err, out)
	}
}
