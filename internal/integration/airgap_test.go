package integration

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/airgap"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func mustGatehouse(t *testing.T, args ...string) string {
	t.Helper()
	out, err := runGatehouse(t, args...)
	if err != nil {
		t.Fatalf("gatehouse %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// fillStore has gatehouse in front of up fetch, verify and store the
// project's build list (the go command's own `go mod download all`).
func fillStore(t *testing.T, up *testproxy.Server, dir string, mods ...string) string {
	t.Helper()
	p := serveTestUpstream(t, up)
	env := goEnv(t, p, up)
	if len(mods) == 0 {
		testutil.MustGo(t, dir, env, "mod", "download", "all")
	} else {
		testutil.MustGo(t, dir, env, append([]string{"mod", "download"}, mods...)...)
	}
	p.stop(t)
	return p.Data
}

// storedArtifacts lists the module files in a store directory.
func storedArtifacts(t *testing.T, data string) []string {
	var out []string
	filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(p, "/@v/") && !strings.Contains(p, ".gatehouse") {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// The whole air-gap flow with the real go command: fill a store from the
// upstream, export, import into a fresh store, serve it --offline with the
// upstream gone, and a fresh client downloads, verifies against the
// checksum database (GOSUMDB left on) and builds.
func TestAirGapEndToEnd(t *testing.T) {
	up := testproxy.New(t)
	dir := project(t)
	data := t.TempDir()
	mirror := []string{"mirror", "--data", data, "--upstream", up.URL, "--sumdb", up.GOSUMDB(), "--jobs", "4", dir}
	out := mustGatehouse(t, mirror...)
	t.Log(strings.TrimSpace(out))
	if !strings.Contains(out, "4 fetched, 0 already stored, 0 refused") {
		t.Fatalf("mirror: %s", out)
	}
	// A rerun finds everything stored: it resumes where it left off.
	if out := mustGatehouse(t, mirror...); !strings.Contains(out, "0 fetched, 4 already stored") {
		t.Fatalf("mirror rerun: %s", out)
	}
	bundle := filepath.Join(t.TempDir(), "bundle.tar")
	out = mustGatehouse(t, "export", "--data", data, "--sumdb", up.GOSUMDB(), "-o", bundle)
	// The build list: the three required modules and greet, required by one.
	if !strings.Contains(out, "exported 4 module versions (12 files") {
		t.Fatalf("export: %s", out)
	}
	t.Log(strings.TrimSpace(out))
	up.Close()

	data2 := t.TempDir()
	out = mustGatehouse(t, "import", "--data", data2, "--sumdb-key", up.GOSUMDB(), bundle)
	t.Log(strings.TrimSpace(out))
	off := startServe(t, data2, "--offline", "--upstream", up.URL, "--sumdb", up.GOSUMDB())

	// A fresh client, with no go.sum: every hash comes from the offline
	// checksum database, checked by the go command itself.
	client := t.TempDir()
	for _, f := range []string{"go.mod", "main.go"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(client, f), b, 0o644)
	}
	env := testutil.GoEnv(t, "GOPROXY="+off.URL, "GOSUMDB="+up.GOSUMDB(), "GOFLAGS=-mod=mod -modcacherw")
	testutil.MustGo(t, client, env, "mod", "download", "all")
	testutil.MustGo(t, client, env, "build", "-o", filepath.Join(t.TempDir(), "app"), ".")
	if out := testutil.MustGo(t, client, env, "mod", "verify"); !strings.Contains(out, "all modules verified") {
		t.Fatalf("go mod verify: %s", out)
	}
	gosum, _ := os.ReadFile(filepath.Join(client, "go.sum"))
	if !strings.Contains(string(gosum), "example.com/hello/v2 v2.0.0 h1:") {
		t.Errorf("go.sum lacks hello/v2:\n%s", gosum)
	}

	// What the offline store lacks is a clear 404, for artifacts and
	// lookups alike.
	for _, u := range []string{"/example.com/lib/@v/v1.3.0.info", "/example.com/nothere/@v/list", "/sumdb/" + testproxy.SumDBName + "/lookup/example.com/lib@v1.3.0"} {
		resp, body := get(t, off.URL+u)
		t.Logf("GET %s: %d %s", u, resp.StatusCode, body)
		if resp.StatusCode != 404 || !strings.Contains(body, "not in the offline store") {
			t.Errorf("GET %s: %d %q, want 404 saying it is not in the offline store", u, resp.StatusCode, body)
		}
	}
}

// rewriteBundle copies a bundle, letting edit change each entry's data
// (nil: drop the entry).
func rewriteBundle(t *testing.T, src string, edit func(name string, data []byte) []byte) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(f), tar.NewWriter(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if data = edit(h.Name, data); data == nil {
			continue // dropped
		}
		h.Size = int64(len(data))
		tw.WriteHeader(h)
		tw.Write(data)
	}
	tw.Close()
	dst := filepath.Join(t.TempDir(), "edited.tar")
	os.WriteFile(dst, buf.Bytes(), 0o644)
	return dst
}

// exportedProject fills a store from up with project's modules and
// exports all of it; it returns the store and the bundle.
func exportedProject(t *testing.T, up *testproxy.Server) (data, bundle string) {
	t.Helper()
	data = fillStore(t, up, project(t))
	bundle = filepath.Join(t.TempDir(), "bundle.tar")
	mustGatehouse(t, "export", "--data", data, "--sumdb", up.GOSUMDB(), "-o", bundle)
	return data, bundle
}

// One byte of one zip changed: import refuses, names the zip, and the
// store stays empty. The same with the manifest's hash updated to match:
// the zip's h1 is then not the checksum database's.
func TestAirGapTamperedBundleRefused(t *testing.T) {
	up := testproxy.New(t)
	_, bundle := exportedProject(t, up)
	const victim = "files/example.com/hello/v2/@v/v2.0.0.zip"
	flip := func(name string, data []byte) []byte {
		if name == victim {
			data = bytes.Clone(data)
			data[len(data)/2] ^= 1
		}
		return data
	}
	t.Run("manifest", func(t *testing.T) {
		bad := rewriteBundle(t, bundle, flip)
		data2 := t.TempDir()
		out, err := runGatehouse(t, "import", "--data", data2, "--sumdb-key", up.GOSUMDB(), bad)
		if err == nil || !strings.Contains(out, "nothing imported") || !strings.Contains(out, victim) || !strings.Contains(out, "does not match the manifest") {
			t.Fatalf("tampered bundle: err %v\n%s", err, out)
		}
		if got := storedArtifacts(t, data2); len(got) != 0 {
			t.Errorf("store not empty after a refused import: %v", got)
		}
	})
	t.Run("rehashed", func(t *testing.T) {
		// A zip whose bytes are valid, rebuilt with other contents, and
		// the manifest rewritten to match it.
		evil := tamperedZip(t, up, "example.com/hello/v2", "v2.0.0")
		bad := rewriteBundle(t, bundle, func(name string, data []byte) []byte {
			if name == victim {
				return evil
			}
			return data
		})
		bad = rehashManifest(t, bad)
		data2 := t.TempDir()
		out, err := runGatehouse(t, "import", "--data", data2, "--sumdb-key", up.GOSUMDB(), bad)
		if err == nil || !strings.Contains(out, "SECURITY ERROR: checksum mismatch for example.com/hello/v2@v2.0.0") || !strings.Contains(out, victim) {
			t.Fatalf("rehashed tampered bundle: err %v\n%s", err, out)
		}
		if got := storedArtifacts(t, data2); len(got) != 0 {
			t.Errorf("store not empty after a refused import: %v", got)
		}
	})
}

// A bundle whose tree head another key signed is refused; so is one from
// a database under the trusted key whose tree is not the one the store
// trusts (a fork).
func TestAirGapForeignOrForkedTreeRefused(t *testing.T) {
	up := testproxy.New(t)
	dir := project(t)
	bundle := filepath.Join(t.TempDir(), "bundle.tar")
	mustGatehouse(t, "export", "--data", fillStore(t, up, dir), "--sumdb", up.GOSUMDB(), "-o", bundle)
	trusted := t.TempDir()
	mustGatehouse(t, "import", "--data", trusted, "--sumdb-key", up.GOSUMDB(), bundle)

	t.Run("other key", func(t *testing.T) {
		other := testproxy.New(t) // same database name, another key
		b := filepath.Join(t.TempDir(), "other.tar")
		mustGatehouse(t, "export", "--data", fillStore(t, other, dir), "--sumdb", other.GOSUMDB(), "-o", b)
		data2 := t.TempDir()
		out, err := runGatehouse(t, "import", "--data", data2, "--sumdb-key", up.GOSUMDB(), b)
		if err == nil || !strings.Contains(out, "not signed by the trusted key") {
			t.Fatalf("bundle signed by another key: err %v\n%s", err, out)
		}
		if got := storedArtifacts(t, data2); len(got) != 0 {
			t.Errorf("store not empty: %v", got)
		}
	})
	t.Run("fork", func(t *testing.T) {
		fork := testproxy.NewWithKey(t, up.SignerKey(), up.GOSUMDB())
		b := filepath.Join(t.TempDir(), "fork.tar")
		mustGatehouse(t, "export", "--data", fillStore(t, fork, t.TempDir(), "example.com/lib@v1.3.0"), "--sumdb", fork.GOSUMDB(), "-o", b)
		before := storedArtifacts(t, trusted)
		out, err := runGatehouse(t, "import", "--data", trusted, "--sumdb-key", up.GOSUMDB(), b)
		if err == nil || !strings.Contains(out, "inconsistent with the tree this store trusts") {
			t.Fatalf("forked tree: err %v\n%s", err, out)
		}
		if got := storedArtifacts(t, trusted); len(got) != len(before) {
			t.Errorf("store changed by a refused import: %d files, had %d", len(got), len(before))
		}
	})
}

// rehashManifest rewrites a bundle's manifest to match its entries, as an
// attacker who can edit the bundle would.
func rehashManifest(t *testing.T, src string) string {
	t.Helper()
	sums := map[string][2]any{}
	rewriteBundle(t, src, func(name string, data []byte) []byte {
		s := sha256.Sum256(data)
		sums[name] = [2]any{int64(len(data)), hex.EncodeToString(s[:])}
		return data
	})
	return rewriteBundle(t, src, func(name string, data []byte) []byte {
		if name != "manifest.json" {
			return data
		}
		var m airgap.Manifest
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		for i, f := range m.Files {
			m.Files[i].Size, m.Files[i].SHA256 = sums[f.Name][0].(int64), sums[f.Name][1].(string)
		}
		out, _ := json.Marshal(m)
		return out
	})
}

// An incremental bundle (--not-in the last manifest) carries only what is
// new, proves its tree consistent with the earlier one, and the offline
// side then serves old and new modules alike to a client that verifies
// them all. Patterns and --since select.
func TestAirGapIncremental(t *testing.T) {
	up := testproxy.New(t)
	dir := project(t)
	data := t.TempDir()
	base := []string{"--data", data, "--upstream", up.URL, "--sumdb", up.GOSUMDB()}
	mustGatehouse(t, append([]string{"mirror"}, append(base, dir)...)...)
	tmp := t.TempDir()
	b1, b2 := filepath.Join(tmp, "b1.tar.gz"), filepath.Join(tmp, "b2.tar")
	mustGatehouse(t, "export", "--data", data, "--sumdb", up.GOSUMDB(), "--gzip", "-o", b1)
	offData := t.TempDir()
	mustGatehouse(t, "import", "--data", offData, "--sumdb-key", up.GOSUMDB(), b1)

	mustGatehouse(t, append([]string{"mirror"}, append(base, "example.com/lib@v1.3.0")...)...)
	if out := mustGatehouse(t, "export", "--data", data, "--sumdb", up.GOSUMDB(), "--since", "1h", "-o", filepath.Join(tmp, "p.tar"), "example.com/lib"); !strings.Contains(out, "exported 1 module versions") {
		t.Errorf("export of a pattern: %s", out)
	}
	if out := mustGatehouse(t, "export", "--data", data, "--sumdb", up.GOSUMDB(), "--since", time.Now().Add(time.Hour).Format(time.RFC3339), "-o", filepath.Join(tmp, "none.tar")); !strings.Contains(out, "exported 0 module versions") {
		t.Errorf("export --since the future: %s", out)
	}
	out := mustGatehouse(t, "export", "--data", data, "--sumdb", up.GOSUMDB(), "--not-in", b1+".manifest.json", "-o", b2)
	t.Log(strings.TrimSpace(out))
	if !strings.Contains(out, "exported 1 module versions (3 files") {
		t.Fatalf("incremental export: %s", out)
	}
	out = mustGatehouse(t, "import", "--data", offData, "--sumdb-key", up.GOSUMDB(), b2)
	if !strings.Contains(out, "trusted tree size 5") {
		t.Fatalf("incremental import: %s", out)
	}
	up.Close()

	off := startServe(t, offData, "--offline", "--sumdb", up.GOSUMDB())
	client := t.TempDir()
	for _, f := range []string{"go.mod", "main.go"} {
		b, _ := os.ReadFile(filepath.Join(dir, f))
		os.WriteFile(filepath.Join(client, f), b, 0o644)
	}
	env := testutil.GoEnv(t, "GOPROXY="+off.URL, "GOSUMDB="+up.GOSUMDB(), "GOFLAGS=-mod=mod -modcacherw")
	testutil.MustGo(t, client, env, "mod", "download", "all")
	testutil.MustGo(t, client, env, "mod", "download", "example.com/lib@v1.3.0")
	testutil.MustGo(t, client, env, "mod", "verify")
	// Lists and @latest come from what the offline store holds.
	if out := testutil.MustGo(t, client, env, "list", "-m", "-versions", "example.com/lib"); strings.TrimSpace(out) != "example.com/lib v1.3.0" {
		t.Errorf("go list -m -versions offline: %q", out)
	}
	if out := testutil.MustGo(t, client, env, "list", "-m", "example.com/lib@latest"); strings.TrimSpace(out) != "example.com/lib v1.3.0" {
		t.Errorf("go list -m @latest offline: %q", out)
	}
}

// On a terminal (a pseudo-terminal made by script(1)), export and import
// draw a one-line bar; piped, they print no control characters; --json
// gives events and a summary.
func TestAirGapProgressOutput(t *testing.T) {
	script, err := exec.LookPath("script")
	if err != nil {
		t.Skip("script(1) from util-linux is not installed")
	}
	up := testproxy.New(t)
	data := t.TempDir()
	mustGatehouse(t, "mirror", "--data", data, "--upstream", up.URL, "--sumdb", up.GOSUMDB(), project(t))
	bundle := filepath.Join(t.TempDir(), "b.tar")

	cmdline := strings.Join([]string{gatehouseBin, "export", "--data", data, "--sumdb", "'" + up.GOSUMDB() + "'", "-o", bundle}, " ")
	cmd := exec.Command(script, "-qec", cmdline, "/dev/null")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "TERM=dumb"}
	tty, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("export on a terminal: %v\n%q", err, tty)
	}
	if !strings.Contains(string(tty), "\rexport [==============================] 4/4") {
		t.Errorf("no progress bar on a terminal:\n%q", tty)
	}

	piped := mustGatehouse(t, "import", "--data", t.TempDir(), "--sumdb-key", up.GOSUMDB(), bundle)
	if strings.ContainsAny(piped, "\r\x1b") || !strings.HasPrefix(piped, "imported 4 module versions") {
		t.Errorf("import not on a terminal: %q", piped)
	}
	js := mustGatehouse(t, "import", "--json", "--data", t.TempDir(), "--sumdb-key", up.GOSUMDB(), bundle)
	lines := strings.Split(strings.TrimSpace(js), "\n")
	var sum struct {
		Event   string
		Modules int
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.Event != "summary" || sum.Modules != 4 || len(lines) != 6 {
		t.Errorf("import --json: %v\n%s", err, js)
	}
}

// addEntries copies a bundle with extra entries before the manifest, and
// lists them in it with their hashes: a bundle whose every entry the
// manifest vouches for, as an attacker can write one.
func addEntries(t *testing.T, src string, extra map[string][]byte) string {
	t.Helper()
	f, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var buf bytes.Buffer
	tr, tw := tar.NewReader(f), tar.NewWriter(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Name == "manifest.json" {
			var m airgap.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			for name, body := range extra {
				tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg})
				tw.Write(body)
				s := sha256.Sum256(body)
				m.Files = append(m.Files, airgap.File{Name: name, Size: int64(len(body)), SHA256: hex.EncodeToString(s[:])})
			}
			data, _ = json.Marshal(m)
			h.Size = int64(len(data))
		}
		tw.WriteHeader(h)
		tw.Write(data)
	}
	tw.Close()
	dst := filepath.Join(t.TempDir(), "added.tar")
	os.WriteFile(dst, buf.Bytes(), 0o644)
	return dst
}

// Records and tiles of a bundle become the lookup answers and tiles that
// serve --offline gives out and that the store's checksum-database client
// reads as its cache: one that no signed tree proves is refused, and
// nothing of the bundle is kept.
func TestAirGapUnprovenSumDBEntriesRefused(t *testing.T) {
	up := testproxy.New(t)
	_, bundle := exportedProject(t, up)
	fake := "example.com/evil v1.0.0 h1:" + strings.Repeat("A", 43) + "=\nexample.com/evil v1.0.0/go.mod h1:" + strings.Repeat("A", 43) + "=\n"
	for name, body := range map[string][]byte{
		// A record no manifest module names, so no proof is checked.
		"sumdb/records/example.com/evil@v1.0.0": []byte("0\n" + fake),
		// The same under a case-escaped path.
		"sumdb/records/example.com/!evil@v1.0.0": []byte("0\n" + fake),
		// A tile of a level the signed tree does not reach.
		"sumdb/tile/8/1/000.p/1": make([]byte, 32),
		// A full tile of garbage where the tree has a partial one.
		"sumdb/tile/8/0/000": make([]byte, 32*256),
	} {
		t.Run(name, func(t *testing.T) {
			evil := addEntries(t, bundle, map[string][]byte{name: body})
			data2 := t.TempDir()
			out, err := runGatehouse(t, "import", "--data", data2, "--sumdb-key", up.GOSUMDB(), evil)
			if err == nil || !strings.Contains(out, name) || !strings.Contains(out, "nothing imported") {
				t.Errorf("import of a bundle with an unproven %s: err %v\n%s", name, err, out)
			}
			if got := storedArtifacts(t, data2); len(got) != 0 {
				t.Errorf("stored after a refused import: %v", got)
			}
			state := filepath.Join(airgap.StateDir(data2, testproxy.SumDBName), "cache")
			if _, err := os.Stat(state); err == nil {
				t.Errorf("checksum-database state %s written by a refused import", state)
			}
		})
	}
}

// serve --offline reaches nothing: asked for module files it does not
// hold (a public and a private-looking path, .mod, .zip, .info, lists,
// lookups), it answers 404 and the upstream it was given, still up here,
// gets no request at all (not the checksum database's lookup either,
// which would tell it the module path asked for).
func TestAirGapOfflineContactsNothing(t *testing.T) {
	up := testproxy.New(t)
	target, _ := url.Parse(up.URL)
	fwd := httputil.NewSingleHostReverseProxy(target)
	var mu sync.Mutex
	var seen []string
	spy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		fwd.ServeHTTP(w, r)
	}))
	defer spy.Close()
	off := startServe(t, "", "--offline", "--upstream", spy.URL, "--sumdb", up.GOSUMDB())
	for _, u := range []string{
		"/example.com/hello/@v/v1.0.0.mod",
		"/example.com/hello/@v/v1.0.0.zip",
		"/example.com/hello/@v/v1.0.0.info",
		"/example.com/hello/@v/list",
		"/example.com/hello/@latest",
		"/corp.example/secret/@v/v1.2.3.zip",
		"/sumdb/" + testproxy.SumDBName + "/lookup/example.com/hello@v1.0.0",
		"/sumdb/" + testproxy.SumDBName + "/latest",
		"/sumdb/" + testproxy.SumDBName + "/tile/8/0/000.p/1",
	} {
		resp, body := get(t, off.URL+u)
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("GET %s: %d %q, want 404", u, resp.StatusCode, body)
		}
	}
	time.Sleep(300 * time.Millisecond) // a lookup started aside would have arrived by now
	mu.Lock()
	defer mu.Unlock()
	if len(seen) > 0 {
		t.Errorf("serve --offline sent requests to its upstream: %v", seen)
	}
}

// One module's record, proven in the signed tree, under another module's
// name (the manifest's record id changed to match, its hashes rewritten),
// for a module whose files the bundle leaves out as an incremental one
// does: no file is checked against it, but it would become the module's
// lookup answer. A record vouches only for its own module: refused.
func TestAirGapRecordOfAnotherModuleRefused(t *testing.T) {
	up := testproxy.New(t)
	_, bundle := exportedProject(t, up)
	const a, b = "sumdb/records/example.com/hello@v1.0.0", "sumdb/records/example.com/greet@v1.1.0"
	recs := map[string][]byte{}
	rewriteBundle(t, bundle, func(name string, data []byte) []byte {
		recs[name] = data
		return data
	})
	if recs[a] == nil || recs[b] == nil {
		t.Fatalf("bundle lacks %s or %s", a, b)
	}
	swapped := rewriteBundle(t, bundle, func(name string, data []byte) []byte {
		if strings.HasPrefix(name, "files/example.com/hello/@v/") {
			return nil
		}
		switch name {
		case a:
			return recs[b]
		case "manifest.json":
			var m airgap.Manifest
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatal(err)
			}
			var ia, ib int
			for i, mod := range m.Modules {
				switch mod.Path {
				case "example.com/hello":
					ia = i
				case "example.com/greet":
					ib = i
				}
			}
			m.Modules[ia].Record = m.Modules[ib].Record
			var files []airgap.File
			for _, f := range m.Files {
				if !strings.HasPrefix(f.Name, "files/example.com/hello/@v/") {
					files = append(files, f)
				}
			}
			m.Files = files
			out, _ := json.Marshal(m)
			return out
		}
		return data
	})
	data2 := t.TempDir()
	out, err := runGatehouse(t, "import", "--data", data2, "--sumdb-key", up.GOSUMDB(), rehashManifest(t, swapped))
	if err == nil || !strings.Contains(out, "nothing imported") || !strings.Contains(out, "is not the record of") {
		t.Fatalf("greet's record as hello's: err %v\n%s", err, out)
	}
	if got := storedArtifacts(t, data2); len(got) != 0 {
		t.Errorf("stored after a refused import: %v", got)
	}
}
