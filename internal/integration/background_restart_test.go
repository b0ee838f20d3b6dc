package integration

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/module"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// Killed (SIGKILL) while work runs behind answers already given: zips
// being synced and renamed into the store, @v/list rewrites waiting in
// their queue, batches of the own checksum log being committed. After the
// restart nothing partial or unverified is in the store (each artifact is
// the upstream's true bytes, each list names only stored versions), the
// own log opens (gatehouse is ready), and the go command downloads and
// verifies everything.
func TestRestartKilledDuringBackgroundCommit(t *testing.T) {
	testutil.RequireCommand(t, "git")
	e := newRestartEnv(t)
	p := e.start(t)
	e.up.SetDelay(20 * time.Millisecond)
	for round, killAt := range []int{1, 4} {
		var mods []string
		for i := range 8 {
			mod := fmt.Sprintf("example.com/bg%d/m%d", round, i)
			raw := make([]byte, 128<<10)
			rand.Read(raw)
			if err := e.up.Add(mod, "v1.0.0", map[string]string{
				"go.mod": "module " + mod + "\n\ngo 1.21\n", "data.txt": hex.EncodeToString(raw),
			}, time.Now().Add(-100*time.Hour)); err != nil {
				t.Fatal(err)
			}
			mods = append(mods, mod+" v1.0.0")
		}
		tag := fmt.Sprintf("v1.%d.0", round+5)
		e.repo.Commit(t, map[string]string{"lib.go": "package lib\n\nfunc Name() string { return \"" + tag + "\" }\n"})
		e.repo.Tag(t, tag)
		dir := appWith(t, append(mods, "git.corp.test/lib "+tag)...)
		cmd := exec.Command("go", "mod", "download", "all")
		cmd.Dir, cmd.Env = dir, e.goEnv(t, p)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// Kill as soon as killAt zips are committed: the others are being
		// downloaded, hashed, synced and renamed, and their lists queued.
		deadline := time.Now().Add(60 * time.Second)
		for storedZips(t, e.data, "example.com/bg"+fmt.Sprint(round)) < killAt {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: zips never stored", round)
			}
			time.Sleep(2 * time.Millisecond)
		}
		p.kill(t)
		n := storedZips(t, e.data, "example.com/bg"+fmt.Sprint(round))
		t.Logf("round %d: killed with %d of %d zips stored, %d staging files left", round, n, len(mods), stagingFiles(e.data))
		cmd.Wait() // fails: the server died under it
		checkStoreIntact(t, e)
		p = e.restart(t, p, "none")
		e.mustRun(t, dir, e.goEnv(t, p), "mod", "download", "all")
		if out := e.mustRun(t, dir, e.goEnv(t, p), "mod", "verify"); !strings.Contains(out, "all modules verified") {
			t.Fatalf("go mod verify: %s", out)
		}
		checkStoreIntact(t, e)
	}
	e.up.SetDelay(0)
	p.stop(t)
}

func storedZips(t *testing.T, data, prefix string) int {
	n := 0
	filepath.WalkDir(filepath.Join(data, filepath.Dir(prefix)), func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".zip") && strings.Contains(filepath.ToSlash(path), prefix) {
			n++
		}
		return nil
	})
	return n
}

// checkStoreIntact checks that every artifact of the test upstream's
// modules in the store is the upstream's own, and that each @v/list names
// only versions with stored artifacts.
func checkStoreIntact(t *testing.T, e *restartEnv) {
	t.Helper()
	root := filepath.Join(e.data, "example.com")
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".tmp-") {
			return nil // staging files are never served (internal/storage/fs)
		}
		rel, _ := filepath.Rel(e.data, path)
		escMod, file, ok := strings.Cut(filepath.ToSlash(rel), "/@v/")
		if !ok {
			return nil
		}
		mod, err := module.UnescapePath(escMod)
		if err != nil {
			t.Errorf("odd store path %s", rel)
			return nil
		}
		got, _ := os.ReadFile(path)
		if file == "list" {
			for _, v := range strings.Fields(string(got)) {
				if _, err := os.Stat(filepath.Join(filepath.Dir(path), v+".mod")); err != nil {
					if _, err := os.Stat(filepath.Join(filepath.Dir(path), v+".info")); err != nil {
						t.Errorf("%s lists %s, which is not stored", rel, v)
					}
				}
			}
			return nil
		}
		ext := filepath.Ext(file)
		vers, _ := module.UnescapeVersion(strings.TrimSuffix(file, ext))
		a := e.up.Artifacts(mod, vers)
		if a == nil {
			return nil
		}
		var want []byte
		switch ext {
		case ".zip":
			want = a.Zip
		case ".mod":
			want = a.Mod
		default:
			return nil
		}
		if !bytes.Equal(got, want) {
			t.Errorf("store holds a partial or wrong %s (%d bytes, want %d)", rel, len(got), len(want))
		}
		return nil
	})
}

// stagingFiles counts the store's files being written when it died.
func stagingFiles(data string) int {
	n := 0
	filepath.WalkDir(data, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasPrefix(d.Name(), ".tmp-") {
			n++
		}
		return nil
	})
	return n
}
