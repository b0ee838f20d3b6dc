package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// doctorEnv is a prepared environment for the real go command: its own
// GOENV file, HOME and module cache, nothing from this machine's settings.
type doctorEnv struct {
	dir, goenv, home string
	vars             []string
}

func newDoctorEnv(t *testing.T, goenvFile string, vars ...string) *doctorEnv {
	t.Helper()
	testutil.RequireCommand(t, "go")
	dir := t.TempDir()
	e := &doctorEnv{dir: dir, goenv: filepath.Join(dir, "goenv"), home: filepath.Join(dir, "home")}
	if err := os.WriteFile(e.goenv, []byte(goenvFile), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(e.home, 0o700); err != nil {
		t.Fatal(err)
	}
	gocache := os.Getenv("GOCACHE")
	if gocache == "" {
		if d, err := os.UserCacheDir(); err == nil {
			gocache = filepath.Join(d, "go-build")
		}
	}
	e.vars = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + e.home, "GOENV=" + e.goenv, "GOCACHE=" + gocache,
		"GOPATH=" + filepath.Join(dir, "gopath"), "GOMODCACHE=" + filepath.Join(dir, "modcache"),
		"GOTOOLCHAIN=local", "GOTELEMETRY=off",
	}
	if root := os.Getenv("GOROOT"); root != "" {
		e.vars = append(e.vars, "GOROOT="+root)
	}
	e.vars = append(e.vars, vars...)
	return e
}

// run runs gatehouse doctor in-process with this environment.
func (e *doctorEnv) run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	vars := map[string]string{}
	for _, kv := range e.vars {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
	var out, errb bytes.Buffer
	env := &cmdEnv{
		stdin: strings.NewReader(""), stdout: &out, stderr: &errb,
		getenv:  func(k string) string { return vars[k] },
		environ: func() []string { return append([]string(nil), e.vars...) },
	}
	// Never the real /etc: an empty root under the test's directory.
	code = runMain(context.Background(), env, append([]string{"doctor", "--root", filepath.Join(e.dir, "root")}, args...))
	return code, out.String(), errb.String()
}

func TestDoctorExitCodes(t *testing.T) {
	clean := newDoctorEnv(t, "")
	sumdbOff := newDoctorEnv(t, "GOSUMDB=off\n")
	infoOnly := newDoctorEnv(t, "", "GOTOOLCHAIN=auto")
	for _, c := range []struct {
		name string
		env  *doctorEnv
		args []string
		code int
		out  string // in stdout
		err  string // in stderr (one line)
	}{
		{"clean", clean, nil, 0, "no findings", ""},
		{"high finding", sumdbOff, nil, 3, "GH001 gosumdb-off", ""},
		{"below fail-on", sumdbOff, []string{"--fail-on", "critical"}, 0, "GH001", ""},
		{"info passes by default", infoOnly, nil, 0, "GH012", ""},
		{"fail-on info", infoOnly, []string{"--fail-on=info"}, 3, "GH012", ""},
		{"no module", clean, []string{"--module", "/nonexistent/dir"}, 1, "", "not a directory"},
		{"no go.mod", clean, []string{"--module", clean.dir}, 1, "", "has no go.mod"},
		{"no go command", clean, []string{"--go", "/nonexistent/go"}, 1, "", "/nonexistent/go"},
		{"bad proxy", clean, []string{"--proxy", "ftp://x"}, 1, "", "--proxy"},
		{"bad format", clean, []string{"--format", "xml"}, 2, "", "--format"},
		{"bad fail-on", clean, []string{"--fail-on", "severe"}, 2, "", "unknown severity"},
		{"apply alone", clean, []string{"--apply"}, 2, "", "--apply only goes with --fix"},
		{"fix with json", clean, []string{"--fix", "--format", "json"}, 2, "", "--fix"},
		{"argument", clean, []string{"."}, 2, "", "--module"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, out, errOut := c.env.run(t, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, c.code, out, errOut)
			}
			if !strings.Contains(out, c.out) {
				t.Errorf("stdout lacks %q:\n%s", c.out, out)
			}
			if c.err != "" && (!strings.Contains(errOut, c.err) || strings.Count(strings.TrimSpace(errOut), "\n") > 0) {
				t.Errorf("stderr %q: want one line with %q", errOut, c.err)
			}
		})
	}
}

func TestDoctorFormats(t *testing.T) {
	e := newDoctorEnv(t, "GOSUMDB=off\n", "GOPROXY=https://alice:s3cr3t@proxy.corp.example,off", "NO_COLOR=")
	code, out, _ := e.run(t, "--format", "json")
	if code != 3 {
		t.Fatalf("exit %d", code)
	}
	var rep struct {
		SchemaVersion int `json:"schema_version"`
		Findings      []struct {
			ID, Source string
			Location   struct{ Path string }
		}
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("json: %v\n%s", err, out)
	}
	if rep.SchemaVersion != 1 || len(rep.Findings) != 2 || rep.Findings[0].ID != "GH001" || rep.Findings[0].Source != "go env file" || rep.Findings[0].Location.Path != e.goenv {
		t.Errorf("report %+v", rep)
	}

	code, out, _ = e.run(t, "--format", "sarif")
	var log struct {
		Version string
		Runs    []struct {
			Results []struct{ RuleID string }
		}
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil || code != 3 {
		t.Fatalf("sarif: exit %d, %v", code, err)
	}
	if log.Version != "2.1.0" || len(log.Runs) != 1 || len(log.Runs[0].Results) != 2 {
		t.Errorf("sarif %+v", log)
	}

	// Text to a buffer (not a terminal): no colour.
	_, out, _ = e.run(t)
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colour escapes in non-terminal output:\n%q", out)
	}
	for _, f := range []string{out} {
		if strings.Contains(f, "s3cr3t") || strings.Contains(f, "alice") {
			t.Errorf("output reveals the credentials:\n%s", f)
		}
	}
}

func TestDoctorColourOnlyOnTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if useColour(&cmdEnv{stdout: w, getenv: func(string) string { return "" }}) {
		t.Error("colour on a pipe")
	}
	var buf bytes.Buffer
	if useColour(&cmdEnv{stdout: &buf, getenv: func(string) string { return "" }}) {
		t.Error("colour on a buffer")
	}
	// NO_COLOR wins even on a terminal.
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		noColour := func(k string) string {
			if k == "NO_COLOR" {
				return "1"
			}
			return ""
		}
		if useColour(&cmdEnv{stdout: tty, getenv: noColour}) {
			t.Error("colour despite NO_COLOR")
		}
		if !useColour(&cmdEnv{stdout: tty, getenv: func(string) string { return "" }}) {
			t.Error("no colour on a terminal")
		}
	}
}

// --fix prints the commands and changes nothing; --fix --apply runs only the
// go env -w ones (the GOENV file changes, file modes do not), then what
// remains decides the exit status.
func TestDoctorFix(t *testing.T) {
	e := newDoctorEnv(t, "GOSUMDB=off\nGOINSECURE=git.corp.example\nGOFLAGS=-mod=mod -trimpath\n")
	netrc := filepath.Join(e.home, ".netrc")
	if err := os.WriteFile(netrc, []byte("machine git.corp.example login a password b\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chmod(netrc, 0o644)
	before, _ := os.ReadFile(e.goenv)

	code, out, _ := e.run(t, "--fix")
	if code != 3 {
		t.Fatalf("--fix: exit %d\n%s", code, out)
	}
	for _, want := range []string{"go env -w GOSUMDB=sum.golang.org", "go env -w GOINSECURE=", "go env -w GOFLAGS=-trimpath", "chmod 600 " + netrc} {
		if !strings.Contains(out, "\n"+want+"\n") {
			t.Errorf("--fix output lacks %q:\n%s", want, out)
		}
	}
	if after, _ := os.ReadFile(e.goenv); !bytes.Equal(after, before) {
		t.Fatalf("--fix changed the go env file:\n%s", after)
	}

	code, out, _ = e.run(t, "--fix", "--apply")
	if code != 3 { // the .netrc finding (high) remains: --apply never chmods
		t.Fatalf("--fix --apply: exit %d\n%s", code, out)
	}
	if !strings.Contains(out, "applied: go env -w GOSUMDB=sum.golang.org") || strings.Contains(out, "applied: chmod") {
		t.Errorf("--apply output:\n%s", out)
	}
	after, _ := os.ReadFile(e.goenv)
	for _, want := range []string{"GOSUMDB=sum.golang.org", "GOINSECURE=\n", "GOFLAGS=-trimpath"} {
		if !strings.Contains(string(after), want) {
			t.Errorf("go env file lacks %q after --apply:\n%s", want, after)
		}
	}
	if fi, _ := os.Stat(netrc); fi.Mode().Perm() != 0o644 {
		t.Errorf("--apply changed .netrc's mode to %v", fi.Mode())
	}
	if !strings.Contains(out, "GH022 netrc-readable") || strings.Contains(out, "GH001") {
		t.Errorf("remaining findings:\n%s", out)
	}

	os.Chmod(netrc, 0o600)
	if code, out, _ := e.run(t); code != 0 || !strings.Contains(out, "no findings") {
		t.Errorf("after fixing: exit %d\n%s", code, out)
	}
}

// A setting from the environment cannot be fixed with go env -w: --apply
// leaves it (and the go env file) alone.
func TestDoctorApplySkipsEnvironment(t *testing.T) {
	e := newDoctorEnv(t, "", "GOSUMDB=off")
	code, out, _ := e.run(t, "--fix", "--apply")
	if code != 3 || strings.Contains(out, "applied:") || !strings.Contains(out, "export GOSUMDB=sum.golang.org") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if data, _ := os.ReadFile(e.goenv); len(data) != 0 {
		t.Errorf("go env file written: %q", data)
	}
}

// startGatehouse runs the real gatehouse server (buildServer, as serve
// wires it) on a loopback port in front of up.
func startGatehouse(t *testing.T, up *testproxy.Server) string {
	t.Helper()
	cfg := config.DefaultServe()
	cfg.Data = config.String(t.TempDir())
	cfg.Upstream = config.String(up.URL)
	cfg.SumDB = config.String(up.GOSUMDB())
	cfg.UpstreamTimeout = config.Duration(10 * time.Second)
	srv, err := buildServer(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, ln, nil, 5*time.Second); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// doctor --proxy against the real gatehouse server in front of the
// hermetic upstream: clean; and when the upstream serves a tampered zip,
// gatehouse refuses it, which doctor reports as a module it could not check.
func TestDoctorProxyGatehouse(t *testing.T) {
	up := testproxy.New(t)
	url := startGatehouse(t, up)
	e := newDoctorEnv(t, "", "GOPROXY="+url+",off", "GOSUMDB="+up.GOSUMDB())
	code, out, errOut := e.run(t, "--proxy", url, "--known-module", "example.com/hello@v1.0.0")
	if code != 0 || !strings.Contains(out, "no findings") || !strings.Contains(out, "proxy: "+url) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}

	zip, err := testproxy.BuildZip("example.com/greet", "v1.1.0", map[string]string{
		"go.mod": string(up.Artifacts("example.com/greet", "v1.1.0").Mod), "greet.go": "package greet\n\n// planted\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	up.Tamper("example.com/greet", "v1.1.0", "zip", zip)
	code, out, _ = e.run(t, "--proxy", url, "--known-module", "example.com/greet@v1.1.0", "--format", "json")
	if code != 3 || !strings.Contains(out, `"id": "GH043"`) || strings.Contains(out, `"id": "GH042"`) {
		t.Errorf("tampered upstream behind gatehouse: exit %d\n%s", code, out)
	}

	// Straight at the tampering upstream, doctor catches the mismatch itself.
	code, out, _ = e.run(t, "--proxy", up.URL, "--known-module", "example.com/greet@v1.1.0", "--format", "json")
	if code != 3 || !strings.Contains(out, `"id": "GH042"`) {
		t.Errorf("tampered upstream: exit %d\n%s", code, out)
	}
}

var fingerprintRE = regexp.MustCompile(`"gatehouseDoctor/v1": "[0-9a-f]+"`)

var updateGolden = flag.Bool("update", false, "rewrite the golden files in testdata")

// A real run end to end, from a prepared environment to each output format:
// a fake GOROOT whose go.env turns GOSUMDB off and whose bin is writable by
// others, a go env file with GOINSECURE, GOPROXY with credentials in the
// environment, a readable .netrc, and a module with a local replace. Paths
// that change per run are replaced by $TMP, $GOROOTPARENT, $GOVERSION.
func TestDoctorGolden(t *testing.T) {
	root := filepath.Join(t.TempDir(), "goroot")
	tool := filepath.Join(root, "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)
	for _, d := range []string{filepath.Join(root, "bin"), tool} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(root, "go.env"), []byte("GOPROXY=https://proxy.golang.org,direct\nGOSUMDB=off\nGOTOOLCHAIN=local\n"), 0o644)
	for _, d := range []string{root, filepath.Join(root, "pkg"), filepath.Join(root, "pkg", "tool"), tool} {
		os.Chmod(d, 0o755) // whatever the umask
	}
	os.Chmod(filepath.Join(root, "bin"), 0o777)
	e := newDoctorEnv(t, "GOINSECURE=git.corp.example\n", "GOROOT="+root, "GOPROXY=https://ci:t0k3n@proxy.corp.example,direct")
	os.WriteFile(filepath.Join(e.home, ".netrc"), []byte("machine git.corp.example login ci password t0k3n\n"), 0o640)
	os.Chmod(filepath.Join(e.home, ".netrc"), 0o640)
	mod := filepath.Join(e.dir, "app")
	testutil.WriteFiles(t, mod, map[string]string{
		"go.mod":        "module example.com/app\n\ngo 1.21\n\nrequire example.com/lib v0.0.0\n\nreplace example.com/lib => ../lib\n",
		"../lib/go.mod": "module example.com/lib\n\ngo 1.21\n",
	})
	old := version
	version = "v0.0.0-golden"
	t.Cleanup(func() { version = old })
	normalize := func(s string) string {
		s = strings.ReplaceAll(s, e.dir, "$TMP")
		s = strings.ReplaceAll(s, filepath.Dir(root), "$GOROOTPARENT")
		s = strings.ReplaceAll(s, runtime.Version(), "$GOVERSION")
		// SARIF fingerprints hash the paths above.
		return fingerprintRE.ReplaceAllString(s, `"gatehouseDoctor/v1": "$$FINGERPRINT"`)
	}
	for _, c := range []struct{ name, format string }{
		{"doctor.txt", "text"}, {"doctor.json", "json"}, {"doctor.sarif", "sarif"}, {"doctor-fix.sh", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := []string{"--module", mod, "--format", c.format}
			if c.format == "" {
				args = []string{"--module", mod, "--fix"}
			}
			code, out, errOut := e.run(t, args...)
			if code != 3 {
				t.Fatalf("exit %d\n%s%s", code, out, errOut)
			}
			if strings.Contains(out, "t0k3n") {
				t.Errorf("output reveals a credential:\n%s", out)
			}
			got := []byte(normalize(out))
			path := filepath.Join("testdata", c.name)
			if *updateGolden {
				os.MkdirAll("testdata", 0o755)
				if err := os.WriteFile(path, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (go test -update creates it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the golden file (go test -update rewrites it); got:\n%s", c.name, got)
			}
		})
	}
}

// A leftover https_proxy in ~/.bashrc reaches SARIF with its file and line.
func TestDoctorLeftoverProxySARIF(t *testing.T) {
	e := newDoctorEnv(t, "")
	testutil.WriteFiles(t, e.home, map[string]string{".bashrc": "# proxy from the old office\nexport https_proxy=http://old.example:3128\n"})
	code, out, stderr := e.run(t, "--format", "sarif", "--fail-on", "medium")
	if code != exitFindings {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string `json:"ruleId"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, res := range log.Runs[0].Results {
		if res.RuleID == "GH013" {
			pl := res.Locations[0].PhysicalLocation
			found = strings.HasSuffix(pl.ArtifactLocation.URI, "/home/.bashrc") && pl.Region.StartLine == 2
		}
	}
	if !found {
		t.Errorf("no GH013 result at .bashrc line 2:\n%s", out)
	}
}

// --deny on a module whose build list has cgo (a local replacement): a
// GH050 result in SARIF at the import "C" line, the inventory in the text
// report, and bad rules refused.
func TestDoctorDenyCgo(t *testing.T) {
	e := newDoctorEnv(t, "", "CGO_ENABLED=1")
	mod := filepath.Join(e.dir, "app")
	testutil.WriteFiles(t, e.dir, map[string]string{
		"app/go.mod":     "module example.com/app\n\ngo 1.21\n\nrequire example.com/sqlite v1.0.0\n\nreplace example.com/sqlite => ../sqlite\n",
		"app/main.go":    "package main\n\nimport _ \"example.com/sqlite\"\n\nfunc main() {}\n",
		"sqlite/go.mod":  "module example.com/sqlite\n\ngo 1.21\n",
		"sqlite/db.go":   "package sqlite\n\n// #include <stdlib.h>\nimport \"C\"\n\nfunc Free() { C.free(nil) }\n",
		"sqlite/pure.go": "package sqlite\n",
	})
	code, out, stderr := e.run(t, "--module", mod, "--deny", "cgo:example.com/sqlite", "--format", "sarif")
	if code != exitFindings {
		t.Fatalf("exit %d, stderr %s", code, stderr)
	}
	var log struct {
		Runs []struct {
			Results []struct {
				RuleID    string                `json:"ruleId"`
				Message   struct{ Text string } `json:"message"`
				Locations []struct {
					PhysicalLocation struct {
						ArtifactLocation struct{ URI string }    `json:"artifactLocation"`
						Region           struct{ StartLine int } `json:"region"`
					} `json:"physicalLocation"`
				} `json:"locations"`
			} `json:"results"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &log); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, res := range log.Runs[0].Results {
		if res.RuleID == "GH050" {
			n++
			pl := res.Locations[0].PhysicalLocation
			if !strings.HasSuffix(pl.ArtifactLocation.URI, "/sqlite/db.go") || pl.Region.StartLine != 4 || !strings.Contains(res.Message.Text, "example.com/sqlite") {
				t.Errorf("GH050 result %+v", res)
			}
		}
	}
	if n != 1 {
		t.Errorf("want one GH050 result, got %d:\n%s", n, out)
	}

	code, out, _ = e.run(t, "--module", mod, "--cgo-unsafe", "--fail-on", "critical")
	if code != 0 || !strings.Contains(out, "(CGO_ENABLED=1, ") || !strings.Contains(out, "example.com/sqlite@v1.0.0 => ../sqlite") ||
		!strings.Contains(out, "example.com/sqlite: cgo (") {
		t.Errorf("exit %d, text report:\n%s", code, out)
	}
	for _, bad := range [][]string{{"--module", mod, "--deny", "rust"}, {"--deny", "cgo"}, {"--cgo-unsafe"}} {
		if code, _, stderr := e.run(t, bad...); code != 2 || stderr == "" {
			t.Errorf("%v: exit %d, stderr %q", bad, code, stderr)
		}
	}
}
