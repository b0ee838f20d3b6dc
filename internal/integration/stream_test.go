package integration

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// bigModule adds mod@v1.0.0 to up with a zip of about 1 MiB that does not
// compress away, large enough to be streamed before it is verified.
func bigModule(t *testing.T, up *testproxy.Server, mod string) map[string]string {
	t.Helper()
	raw := make([]byte, 1<<20)
	rand.Read(raw)
	files := map[string]string{"go.mod": "module " + mod + "\n\ngo 1.21\n", "data.txt": hex.EncodeToString(raw)}
	if err := up.Add(mod, "v1.0.0", files, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	return files
}

// A large zip comes to the go command as it arrives, and is the same zip:
// the go command verifies it against the checksum database itself.
func TestGoCommandStreamedZip(t *testing.T) {
	up := testproxy.New(t)
	bigModule(t, up, "example.com/big")
	p := serveTestUpstream(t, up)
	dir := t.TempDir()
	env := goEnv(t, p, up)
	out := testutil.MustGo(t, dir, env, "mod", "download", "-json", "example.com/big@v1.0.0")
	if !strings.Contains(out, `"Sum": "h1:`) {
		t.Fatalf("go mod download: %s", out)
	}
	stored, err := os.ReadFile(filepath.Join(p.Data, "example.com", "big", "@v", "v1.0.0.zip"))
	if err != nil || string(stored) != string(up.Artifacts("example.com/big", "v1.0.0").Zip) {
		t.Fatalf("stored zip differs from the upstream's (%d bytes, %v)", len(stored), err)
	}
}

// A large tampered zip is refused after most of it has gone out: the
// response is aborted, the real go command fails to download it, it is
// not in the go command's module cache, and gatehouse stored nothing.
func TestTamperedZipRefusedMidStream(t *testing.T) {
	up := testproxy.New(t)
	files := bigModule(t, up, "example.com/big")
	flip := map[byte]string{'0': "1"}[files["data.txt"][0]]
	if flip == "" {
		flip = "0"
	}
	files["data.txt"] = flip + files["data.txt"][1:]
	evil, err := testproxy.BuildZip("example.com/big", "v1.0.0", files)
	if err != nil {
		t.Fatal(err)
	}
	up.Tamper("example.com/big", "v1.0.0", "zip", evil)
	p := serveTestUpstream(t, up)
	modcache := t.TempDir()
	env := goEnv(t, p, up, "GOMODCACHE="+modcache)
	out, err := testutil.Go(t, t.TempDir(), env, "mod", "download", "-x", "example.com/big@v1.0.0")
	if err == nil {
		t.Fatalf("tampered zip accepted:\n%s", out)
	}
	if !p.LogsContain("aborting the response") {
		t.Errorf("the refusal did not come mid-stream (the test does not test that):\n%s", p.Logs())
	}
	if !p.LogsContain("SECURITY") {
		t.Errorf("no security event in gatehouse's log")
	}
	filepath.Walk(modcache, func(path string, fi os.FileInfo, err error) error {
		if err == nil && strings.HasSuffix(path, ".zip") {
			t.Errorf("the go command kept a zip: %s", path)
		}
		return nil
	})
	entries, _ := os.ReadDir(filepath.Join(p.Data, "example.com", "big", "@v"))
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".zip") || strings.HasPrefix(e.Name(), ".tmp-") {
			t.Errorf("left in the store: %s", e.Name())
		}
	}
}
