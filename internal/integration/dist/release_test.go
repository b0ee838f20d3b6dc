package dist

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// make release, for this machine's platform only (each cross-compile of
// the whole tree costs about a minute here): the binary is static, says
// the stamped version, and SHA256SUMS holds its hash. The Makefile's
// default platforms are checked as written.
func TestMakeRelease(t *testing.T) {
	dir := t.TempDir()
	const version = "v1.2.3-releasetest"
	plat := runtime.GOOS + "/" + runtime.GOARCH
	mk := exec.Command("make", "-C", root, "release", "VERSION="+version, "RELEASE_DIR="+dir, "PLATFORMS="+plat)
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make release: %v\n%s", err, out)
	}
	name := "gatehouse-" + version + "-" + runtime.GOOS + "-" + runtime.GOARCH
	bin := filepath.Join(dir, name)
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gatehouse "+version+" ") {
		t.Errorf("%s version: %v %q", name, err, out)
	}
	if out, err := exec.Command("file", bin).CombinedOutput(); err == nil && !strings.Contains(string(out), "statically linked") {
		t.Errorf("not static: %s", out)
	}
	sums, err := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	if want := hex.EncodeToString(h[:]) + "  " + name + "\n"; string(sums) != want {
		t.Errorf("SHA256SUMS = %q, want %q", sums, want)
	}

	mf, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^PLATFORMS \?= (.*)$`).FindSubmatch(mf)
	if m == nil || strings.Join(strings.Fields(string(m[1])), " ") != "linux/amd64 linux/arm64 darwin/arm64" {
		t.Errorf("default PLATFORMS: %q", m)
	}
}

// make build stamps the version too (it printed "devel" before).
func TestMakeBuildStampsVersion(t *testing.T) {
	dir := t.TempDir()
	mk := exec.Command("make", "-C", root, "build", "VERSION=v9.8.7-buildtest", "BUILD_OUT="+filepath.Join(dir, "gatehouse"))
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	out, err := exec.Command(filepath.Join(dir, "gatehouse"), "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "gatehouse v9.8.7-buildtest ") {
		t.Errorf("version: %v %q", err, out)
	}
}
