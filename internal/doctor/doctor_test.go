package doctor

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// testEnv is a prepared environment for the real go command: a GOENV file,
// HOME, GOPATH and module cache under a temp dir, and nothing from this
// machine's own go settings.
type testEnv struct {
	t       *testing.T
	dir     string
	goenv   string // the GOENV file
	home    string
	environ []string
}

func newTestEnv(t *testing.T, goenvFile string, vars ...string) *testEnv {
	t.Helper()
	testutil.RequireCommand(t, "go")
	dir := t.TempDir()
	e := &testEnv{t: t, dir: dir, goenv: filepath.Join(dir, "goenv"), home: filepath.Join(dir, "home")}
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
	e.environ = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + e.home,
		"GOPATH=" + filepath.Join(dir, "gopath"),
		"GOMODCACHE=" + filepath.Join(dir, "modcache"),
		"GOCACHE=" + gocache,
		"GOENV=" + e.goenv,
		"GOTELEMETRY=off",
	}
	if root := os.Getenv("GOROOT"); root != "" {
		e.environ = append(e.environ, "GOROOT="+root)
	}
	// GOTOOLCHAIN comes from GOROOT/go.env unless a test sets it; pin it so
	// that the clean case is clean on every machine.
	if !hasVar(vars, "GOTOOLCHAIN") && !strings.Contains(goenvFile, "GOTOOLCHAIN=") {
		e.environ = append(e.environ, "GOTOOLCHAIN=local")
	}
	e.environ = append(e.environ, vars...)
	return e
}

func hasVar(vars []string, key string) bool {
	for _, v := range vars {
		if strings.HasPrefix(v, key+"=") {
			return true
		}
	}
	return false
}

func (e *testEnv) run(opts Options) *Report {
	e.t.Helper()
	opts.Environ = e.environ
	if opts.Root == "" {
		// Never the real /etc: an empty root unless the test fills one.
		opts.Root = filepath.Join(e.dir, "root")
	}
	if opts.UID == nil {
		opts.UID = func() int { return 0 }
	}
	r, err := Run(context.Background(), opts)
	if err != nil {
		e.t.Fatalf("Run: %v", err)
	}
	return r
}

func findings(r *Report, id string) []Finding {
	var out []Finding
	for _, f := range r.Findings {
		if f.ID == id {
			out = append(out, f)
		}
	}
	return out
}

func one(t *testing.T, r *Report, id string) Finding {
	t.Helper()
	fs := findings(r, id)
	if len(fs) != 1 {
		t.Fatalf("want one %s finding, got %d; all findings:\n%s", id, len(fs), dump(r))
	}
	return fs[0]
}

func none(t *testing.T, r *Report, id string) {
	t.Helper()
	if fs := findings(r, id); len(fs) != 0 {
		t.Fatalf("want no %s finding, got:\n%s", id, dump(r))
	}
}

func dump(r *Report) string {
	b, _ := json.MarshalIndent(r.Findings, "", "  ")
	return string(b)
}

// A clean environment has no findings at all.
func TestCleanEnvironment(t *testing.T) {
	e := newTestEnv(t, "")
	r := e.run(Options{})
	if len(r.Findings) != 0 {
		t.Fatalf("clean environment has findings:\n%s", dump(r))
	}
	if r.GoVersion != runtime.Version() && !strings.HasPrefix(r.GoVersion, "go") {
		t.Errorf("GoVersion %q", r.GoVersion)
	}
	if r.GOENV != e.goenv {
		t.Errorf("GOENV %q, want %q", r.GOENV, e.goenv)
	}
}

// Each setting check, with the value set in the environment or the GOENV
// file, against a value that must not be reported.
func TestSettingChecks(t *testing.T) {
	cases := []struct {
		name    string
		vars    []string
		file    string
		expect  bool // Options.ExpectProxy
		id      string
		want    bool
		sev     Severity
		source  Source
		fixKind FixKind
		fixCmd  string
		msg     string
	}{
		{name: "gosumdb off in file", file: "GOSUMDB=off\n", id: "GH001", want: true, sev: High, source: FromGoEnvFile, fixKind: GoEnvWrite, fixCmd: "go env -w GOSUMDB=sum.golang.org"},
		{name: "gosumdb off in env", vars: []string{"GOSUMDB=off"}, id: "GH001", want: true, sev: High, source: FromEnvironment, fixKind: Shell, fixCmd: "export GOSUMDB=sum.golang.org"},
		{name: "env overrides file", vars: []string{"GOSUMDB=sum.golang.org"}, file: "GOSUMDB=off\n", id: "GH001"},
		{name: "gosumdb set", vars: []string{"GOSUMDB=sum.golang.org"}, id: "GH001"},

		{name: "gonosumdb star", vars: []string{"GONOSUMDB=*"}, id: "GH002", want: true, sev: High, source: FromEnvironment, msg: `"*" covers every module`},
		{name: "gonosumdb site", file: "GONOSUMDB=git.corp.example,github.com\n", id: "GH002", want: true, sev: High, source: FromGoEnvFile, fixCmd: "go env -w GONOSUMDB=git.corp.example", msg: "every module on github.com"},
		{name: "gonosumdb tld glob", vars: []string{"GONOSUMDB=*.com"}, id: "GH002", want: true, sev: High},
		{name: "gonosumdb org", vars: []string{"GONOSUMDB=github.com/myorg,git.corp.example"}, id: "GH002"},
		{name: "goprivate site glob", vars: []string{"GOPRIVATE=github.com/*"}, id: "GH003", want: true, sev: High},
		{name: "goprivate org", vars: []string{"GOPRIVATE=github.com/myorg/*"}, id: "GH003"},
		{name: "gonoproxy site", vars: []string{"GONOPROXY=gitlab.com"}, id: "GH004", want: true, sev: Medium},
		{name: "gonoproxy private host", vars: []string{"GONOPROXY=git.corp.example"}, id: "GH004"},

		{name: "goinsecure host", file: "GOINSECURE=git.corp.example\n", id: "GH005", want: true, sev: High, source: FromGoEnvFile, fixCmd: "go env -w GOINSECURE="},
		{name: "goinsecure everything", vars: []string{"GOINSECURE=*"}, id: "GH005", want: true, sev: Critical},
		{name: "goinsecure unset", id: "GH005"},

		{name: "goproxy remote http", vars: []string{"GOPROXY=http://proxy.corp.example,off"}, id: "GH006", want: true, sev: High},
		{name: "goproxy loopback http", vars: []string{"GOPROXY=http://127.0.0.1:3000,off"}, id: "GH006"},
		{name: "goproxy localhost http", vars: []string{"GOPROXY=http://localhost:3000|http://[::1]:3000"}, id: "GH006"},
		{name: "goproxy https", vars: []string{"GOPROXY=https://proxy.corp.example"}, id: "GH006"},

		{name: "goproxy credentials", file: "GOPROXY=https://alice:s3cr3t-t0ken@proxy.corp.example/mod,off\n", id: "GH007", want: true, sev: High, source: FromGoEnvFile,
			fixCmd: "go env -w GOPROXY=https://proxy.corp.example/mod,off", msg: "https://xxxxx@proxy.corp.example/mod,off"},
		{name: "goproxy token as user", vars: []string{"GOPROXY=https://ghp_tok3n@proxy.corp.example"}, id: "GH007", want: true, sev: High},
		{name: "goproxy no credentials", vars: []string{"GOPROXY=https://proxy.corp.example"}, id: "GH007"},

		{name: "direct expected", vars: []string{"GOPROXY=https://proxy.corp.example,direct"}, expect: true, id: "GH008", want: true, sev: Medium, fixCmd: "export GOPROXY=https://proxy.corp.example,off"},
		{name: "direct not expected", vars: []string{"GOPROXY=https://proxy.corp.example,direct"}, id: "GH008"},
		{name: "no direct", vars: []string{"GOPROXY=https://proxy.corp.example,off"}, expect: true, id: "GH008"},

		{name: "goflags insecure", file: "GOFLAGS=-trimpath -insecure\n", id: "GH009", want: true, sev: High, fixCmd: "go env -w GOFLAGS=-trimpath"},
		{name: "goflags mod=mod", vars: []string{"GOFLAGS=-mod=mod"}, id: "GH010", want: true, sev: Medium},
		{name: "goflags readonly", vars: []string{"GOFLAGS=-mod=readonly"}, id: "GH010"},
		{name: "goauth off", vars: []string{"GOAUTH=off"}, id: "GH011", want: true, sev: Low},
		{name: "goauth netrc", vars: []string{"GOAUTH=netrc"}, id: "GH011"},
		{name: "gotoolchain auto", vars: []string{"GOTOOLCHAIN=auto"}, id: "GH012", want: true, sev: Info},
		{name: "gotoolchain local+auto", file: "GOTOOLCHAIN=local+auto\n", id: "GH012", want: true, sev: Info, source: FromGoEnvFile},
		{name: "gotoolchain path", vars: []string{"GOTOOLCHAIN=path"}, id: "GH012"},
		{name: "gotoolchain local", vars: []string{"GOTOOLCHAIN=local"}, id: "GH012"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newTestEnv(t, c.file, c.vars...)
			r := e.run(Options{ExpectProxy: c.expect})
			if !c.want {
				none(t, r, c.id)
				return
			}
			f := one(t, r, c.id)
			if f.Severity != c.sev {
				t.Errorf("severity %s, want %s", f.Severity, c.sev)
			}
			if c.source != "" && f.Source != c.source {
				t.Errorf("source %q, want %q", f.Source, c.source)
			}
			if c.source == FromGoEnvFile && (f.Location.Path != e.goenv || f.Location.Line != 1) {
				t.Errorf("location %+v, want %s:1", f.Location, e.goenv)
			}
			if f.Fix == nil {
				t.Fatal("no fix")
			}
			if c.fixKind != "" && f.Fix.Kind != c.fixKind {
				t.Errorf("fix kind %q, want %q", f.Fix.Kind, c.fixKind)
			}
			if c.fixCmd != "" && f.Fix.Command != c.fixCmd {
				t.Errorf("fix %q, want %q", f.Fix.Command, c.fixCmd)
			}
			if c.msg != "" && !strings.Contains(f.Message, c.msg) {
				t.Errorf("message %q lacks %q", f.Message, c.msg)
			}
			if f.Explanation == "" {
				t.Error("no explanation")
			}
		})
	}
}

// Credentials in GOPROXY never appear in any output: message, fix or JSON.
func TestCredentialsRedacted(t *testing.T) {
	e := newTestEnv(t, "", "GOPROXY=https://alice:s3cr3t-t0ken@proxy.corp.example,http://ghp_tok3n@mirror.corp.example|direct")
	r := e.run(Options{ExpectProxy: true})
	one(t, r, "GH007")
	one(t, r, "GH008")
	one(t, r, "GH006")
	out, _ := json.Marshal(r)
	for _, secret := range []string{"s3cr3t-t0ken", "alice", "ghp_tok3n"} {
		if strings.Contains(string(out), secret) {
			t.Errorf("report contains %q:\n%s", secret, out)
		}
	}
}

// A value from GOROOT/go.env (a distribution's default) is attributed to
// it, and go env -w can override it.
func TestSourceGOROOTGoEnv(t *testing.T) {
	root := fakeGOROOT(t)
	writeFile(t, filepath.Join(root, "go.env"), "# distro defaults\nGOPROXY=direct\nGOSUMDB=off\nGOTOOLCHAIN=local\n", 0o644)
	e := newTestEnv(t, "", "GOROOT="+root)
	r := e.run(Options{})
	f := one(t, r, "GH001")
	if f.Source != FromGOROOT || f.Location.Path != filepath.Join(root, "go.env") || f.Location.Line != 3 {
		t.Errorf("source %q at %+v", f.Source, f.Location)
	}
	if f.Fix.Kind != GoEnvWrite {
		t.Errorf("fix %+v, want go env -w", f.Fix)
	}
}

// fakeGOROOT builds the part of a GOROOT that go env and the permission
// check look at, with safe modes: copying a whole Go tree would be slow.
func fakeGOROOT(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "goroot")
	for _, d := range []string{"bin", "pkg/tool/" + runtime.GOOS + "_" + runtime.GOARCH} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{root, filepath.Join(root, "bin"), filepath.Join(root, "pkg"), filepath.Join(root, "pkg", "tool"), filepath.Join(root, "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)} {
		chmod(t, d, 0o755) // whatever the umask
	}
	writeFile(t, filepath.Join(root, "bin", "go"), "#!/bin/sh\n", 0o755)
	writeFile(t, filepath.Join(root, "go.env"), "GOTOOLCHAIN=local\n", 0o644)
	return root
}

func writeFile(t *testing.T, path, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // beyond the umask
		t.Fatal(err)
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// GOROOT, bin, pkg/tool and the binaries: writable by others is critical,
// by the group high, by the current non-root user medium; root-owned 0755
// is clean. Tests run as root, so the "current user" is injected: the tree
// is given to a made-up uid when we can chown, and that uid is the user.
func TestGOROOTWritable(t *testing.T) {
	tool := filepath.Join("pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)
	cases := []struct {
		name string
		path string // relative to GOROOT
		mode os.FileMode
		sev  Severity
	}{
		{"root others", ".", 0o757, Critical},
		{"bin group", "bin", 0o775, High},
		{"pkg/tool others", "pkg/tool", 0o777, Critical},
		{"tooldir group", tool, 0o775, High},
		{"go binary others", "bin/go", 0o757, Critical},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			root := fakeGOROOT(t)
			e := newTestEnv(t, "", "GOROOT="+root)
			none(t, e.run(Options{}), "GH020")
			p := filepath.Join(root, c.path)
			chmod(t, p, c.mode)
			f := one(t, e.run(Options{}), "GH020")
			if f.Severity != c.sev || f.Location.Path != filepath.Clean(p) || f.Source != FromFile {
				t.Errorf("got %s at %s (%s), want %s at %s", f.Severity, f.Location.Path, f.Source, c.sev, p)
			}
			if f.Fix == nil || f.Fix.Kind != Chmod || f.Fix.Command != "chmod go-w "+filepath.Clean(p) {
				t.Errorf("fix %+v", f.Fix)
			}
		})
	}

	t.Run("current non-root user", func(t *testing.T) {
		root := fakeGOROOT(t)
		e := newTestEnv(t, "", "GOROOT="+root)
		owner := os.Getuid()
		if owner == 0 {
			owner = 4242
			chownR(t, root, owner)
		}
		// Root owns nothing here, so root is never "the current user" finding.
		none(t, e.run(Options{UID: func() int { return 0 }}), "GH020")
		// Another non-root user is not the owner.
		none(t, e.run(Options{UID: func() int { return owner + 1 }}), "GH020")
		r := e.run(Options{UID: func() int { return owner }})
		fs := findings(r, "GH020")
		if len(fs) != 5 { // GOROOT, bin, bin/go, pkg/tool, the tool dir
			t.Fatalf("want the 5 owned paths reported, got:\n%s", dump(r))
		}
		for _, f := range fs {
			if f.Severity != Medium || !strings.Contains(f.Message, "current user") || !strings.Contains(f.Fix.Command, "chown -R root:root") {
				t.Errorf("finding %+v", f)
			}
		}
		// Read-only for the owner: nothing to report.
		chmodR(t, root, 0o555)
		none(t, e.run(Options{UID: func() int { return owner }}), "GH020")
	})
}

func chownR(t *testing.T, root string, uid int) {
	t.Helper()
	err := filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, -1)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func chmodR(t *testing.T, root string, mode os.FileMode) {
	t.Helper()
	filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
		if err == nil {
			os.Chmod(p, mode)
		}
		return err
	})
	t.Cleanup(func() { // let t.TempDir remove it
		filepath.Walk(root, func(p string, _ os.FileInfo, err error) error {
			if err == nil {
				os.Chmod(p, 0o755)
			}
			return nil
		})
	})
}

func TestModCacheWritable(t *testing.T) {
	e := newTestEnv(t, "")
	mc := filepath.Join(e.dir, "modcache")
	if err := os.MkdirAll(filepath.Join(mc, "cache", "download"), 0o755); err != nil {
		t.Fatal(err)
	}
	chmod(t, mc, 0o775) // group-writable is not reported: only others
	none(t, e.run(Options{}), "GH021")
	chmod(t, filepath.Join(mc, "cache", "download"), 0o777)
	f := one(t, e.run(Options{}), "GH021")
	if f.Severity != High || f.Location.Path != filepath.Join(mc, "cache", "download") || !strings.HasPrefix(f.Fix.Command, "chmod o-w ") {
		t.Errorf("finding %+v", f)
	}
}

func TestNetrcReadable(t *testing.T) {
	e := newTestEnv(t, "")
	netrc := filepath.Join(e.home, ".netrc")
	writeFile(t, netrc, "machine proxy.corp.example login alice password s3cr3t\n", 0o600)
	none(t, e.run(Options{}), "GH022")
	chmod(t, netrc, 0o640)
	if f := one(t, e.run(Options{}), "GH022"); f.Severity != Medium {
		t.Errorf("group-readable: %s", f.Severity)
	}
	chmod(t, netrc, 0o644)
	f := one(t, e.run(Options{}), "GH022")
	if f.Severity != High || f.Location.Path != netrc || f.Fix.Command != "chmod 600 "+netrc {
		t.Errorf("finding %+v", f)
	}
	if !strings.Contains(f.Message, "GOAUTH=netrc") {
		t.Errorf("message %q does not say GOAUTH uses it", f.Message)
	}

	// NETRC names another file; the one in HOME is then not the one used.
	other := filepath.Join(e.dir, "other-netrc")
	writeFile(t, other, "machine x login y password z\n", 0o604)
	e.environ = append(e.environ, "NETRC="+other)
	f = one(t, e.run(Options{}), "GH022")
	if f.Location.Path != other {
		t.Errorf("NETRC: finding at %s, want %s", f.Location.Path, other)
	}
}

func TestGoEnvFileWritable(t *testing.T) {
	e := newTestEnv(t, "GOPROXY=https://proxy.corp.example\n")
	none(t, e.run(Options{}), "GH023")
	chmod(t, e.goenv, 0o666)
	f := one(t, e.run(Options{}), "GH023")
	if f.Location.Path != e.goenv || f.Fix.Command != "chmod go-w "+e.goenv {
		t.Errorf("finding %+v", f)
	}
}

// Bad input is one clear error, not a panic or a report.
func TestRunErrors(t *testing.T) {
	e := newTestEnv(t, "")
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{ModuleDir: filepath.Join(e.dir, "nope")}, "not a directory"},
		{Options{ModuleDir: e.dir}, "has no go.mod"},
		{Options{Proxy: "ftp://x"}, "want an http:// or https:// URL"},
		{Options{Proxy: "https://u:p@proxy.example"}, "without credentials"},
		{Options{Proxy: "http://127.0.0.1:1", KnownModule: "nope"}, "want path@version"},
		{Options{Go: filepath.Join(e.dir, "no-such-go")}, "no-such-go"},
	} {
		c.opts.Environ = e.environ
		_, err := Run(context.Background(), c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%+v: error %v, want one line with %q", c.opts, err, c.want)
		}
	}
}

func TestBroadPattern(t *testing.T) {
	for p, want := range map[string]bool{
		"*": true, "*/*": true, "github.com": true, "github.com/*": true, "*.com": true, "gopkg.in": true,
		"golang.org": true, "*.googlesource.com": true,
		"github.com/myorg": false, "github.com/myorg/*": false, "git.corp.example": false, "*.corp.example": false,
		"gopkg.in/yaml.v3": false,
	} {
		if _, got := broadPattern(p); got != want {
			t.Errorf("broadPattern(%q) = %v, want %v", p, got, want)
		}
	}
}

// Every check is documented in docs/doctor.md with its id, name and severity.
func TestChecksDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/doctor.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range Checks {
		if seen[c.ID] {
			t.Errorf("duplicate id %s", c.ID)
		}
		seen[c.ID] = true
		if c.Name == "" || c.Title == "" || c.Why == "" || c.Fix == "" {
			t.Errorf("%s: incomplete", c.ID)
		}
		if !strings.Contains(string(doc), "| "+c.ID+" | `"+c.Name+"` | "+c.Severity.String()) {
			t.Errorf("docs/doctor.md lacks the row for %s %s (%s)", c.ID, c.Name, c.Severity)
		}
	}
}
