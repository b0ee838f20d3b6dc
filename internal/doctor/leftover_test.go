package doctor

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// A build user's HOME and an /etc under a temp root with proxy leftovers:
// each finding names its file and line and what the go command uses.
func TestLeftoverStartupFiles(t *testing.T) {
	e := newTestEnv(t, "GOPROXY=https://proxy.golang.org,off\n", "HTTPS_PROXY=http://envproxy.example:3128")
	root := filepath.Join(e.dir, "root")
	testutil.WriteFiles(t, e.home, map[string]string{
		".bashrc": "# user settings\nalias ll='ls -l'\nexport https_proxy=\"http://bob:s3cret@corp-proxy.example:8080\"\n",
		".zshrc":  "no_proxy=localhost,.corp.example; export no_proxy\n",
		".profile": "if [ -n \"$BASH\" ]; then\n  export GOPROXY='https://old-proxy.example' GOFLAGS=-mod=mod\nfi\n" +
			"export GOSUMDB=sum.golang.org\n", // the same as go env: not reported
	})
	testutil.WriteFiles(t, root, map[string]string{
		"etc/environment":        "PATH=\"/usr/bin\"\nHTTP_PROXY=http://sys-proxy.example:3128\n",
		"etc/profile.d/proxy.sh": "\n\nexport ALL_PROXY=socks5://sys-proxy.example:1080 # set by the image\n",
		"etc/profile":            "echo https_proxy=not-an-assignment\n",
	})
	r := e.run(Options{})

	want := []struct {
		path    string
		line    int
		setting string
		sev     Severity
		msg     []string
	}{
		{filepath.Join(e.home, ".bashrc"), 3, "https_proxy", Medium, []string{"http://xxxxx@corp-proxy.example:8080", "uses https proxy http://envproxy.example:3128 (environment HTTPS_PROXY)"}},
		{filepath.Join(e.home, ".zshrc"), 1, "no_proxy", Info, []string{"no_proxy=localhost,.corp.example", "no proxy exceptions (not set in this environment)"}},
		{filepath.Join(root, "etc/environment"), 2, "HTTP_PROXY", Medium, []string{"sys-proxy.example:3128", "no http proxy"}},
		{filepath.Join(root, "etc/profile.d/proxy.sh"), 3, "ALL_PROXY", Medium, []string{"does not read ALL_PROXY"}},
		{"", 0, "HTTPS_PROXY", Medium, []string{"set in the environment", "envproxy.example"}},
	}
	got := findings(r, "GH013")
	if len(got) != len(want) {
		t.Fatalf("want %d GH013 findings, got:\n%s", len(want), dump(r))
	}
	for _, w := range want {
		found := false
		for _, f := range got {
			if f.Location.Path == w.path && f.Location.Line == w.line && f.Location.Setting == w.setting {
				found = true
				if f.Severity != w.sev {
					t.Errorf("%s:%d severity %s, want %s", w.path, w.line, f.Severity, w.sev)
				}
				for _, m := range w.msg {
					if !strings.Contains(f.Message, m) {
						t.Errorf("%s:%d message %q lacks %q", w.path, w.line, f.Message, m)
					}
				}
			}
		}
		if !found {
			t.Errorf("no GH013 finding at %s:%d %s:\n%s", w.path, w.line, w.setting, dump(r))
		}
	}
	if strings.Contains(dump(r), "s3cret") || strings.Contains(dump(r), "bob") {
		t.Errorf("credentials in the findings:\n%s", dump(r))
	}

	// GOPROXY and GOFLAGS in .profile differ from what go env uses.
	gh017 := findings(r, "GH017")
	if len(gh017) != 2 {
		t.Fatalf("want 2 GH017 findings, got:\n%s", dump(r))
	}
	for _, f := range gh017 {
		if f.Location.Path != filepath.Join(e.home, ".profile") || f.Location.Line != 2 {
			t.Errorf("GH017 location %+v", f.Location)
		}
	}
	if m := gh017[0].Message + gh017[1].Message; !strings.Contains(m, "GOPROXY=https://old-proxy.example") ||
		!strings.Contains(m, "uses GOPROXY=https://proxy.golang.org,off (from go env file") || !strings.Contains(m, "GOFLAGS=-mod=mod") {
		t.Errorf("GH017 messages: %s", m)
	}
}

// git's global and system config, read by the real git: http.proxy and
// insteadOf rules (also through an include, and with a mixed-case key).
func TestLeftoverGitConfig(t *testing.T) {
	testutil.RequireCommand(t, "git")
	e := newTestEnv(t, "")
	root := filepath.Join(e.dir, "root")
	testutil.WriteFiles(t, e.home, map[string]string{
		".gitconfig": "[user]\n\tname = Build\n[include]\n\tpath = ~/.gitconfig-extra\n" +
			"[url \"ssh://git@evil.example/\"]\n\tinsteadOf = https://github.com/corp/\n",
		".gitconfig-extra": "[http]\n\tsslVerify = true\n\tProxy = http://user:tok@git-proxy.example:3128\n",
	})
	testutil.WriteFiles(t, root, map[string]string{
		"etc/gitconfig": "[core]\n\tautocrlf = false\n[url \"https://mirror.example/go/\"]\n\tinsteadOf = https://go.corp.example/\n" +
			"[url \"https://ci:ghp_SECRET123@github.com/\"]\n\tinsteadOf = https://github.com/\n",
	})
	r := e.run(Options{})

	rewrites := findings(r, "GH015")
	if len(rewrites) != 3 {
		t.Fatalf("want 2 GH015 findings, got:\n%s", dump(r))
	}
	byPath := map[string]Finding{}
	for _, f := range rewrites {
		if f.Location.Line == 6 && f.Location.Path == filepath.Join(root, "etc/gitconfig") {
			// The credentialed rewrite: found, located, and never repeated.
			if f.Location.Setting != "url.https://xxxxx@github.com/.insteadof" || f.Fix.Command != "" {
				t.Errorf("credentialed rewrite %+v %+v", f.Location, f.Fix)
			}
			continue
		}
		byPath[f.Location.Path] = f
	}
	g := byPath[filepath.Join(e.home, ".gitconfig")]
	if g.Location.Line != 6 || !strings.Contains(g.Message, "rewrites https://github.com/corp/ to ssh://git@evil.example/") || g.Severity != High {
		t.Errorf("global insteadOf finding %+v", g)
	}
	s := byPath[filepath.Join(root, "etc/gitconfig")]
	if s.Location.Line != 4 || !strings.Contains(s.Message, "git system config") {
		t.Errorf("system insteadOf finding %+v", s)
	}
	p := one(t, r, "GH014")
	if p.Location.Path != filepath.Join(e.home, ".gitconfig-extra") || p.Location.Line != 3 ||
		!strings.Contains(p.Message, "http.proxy=http://xxxxx@git-proxy.example:3128") {
		t.Errorf("http.proxy finding %+v", p)
	}
	if strings.Contains(dump(r), "tok@") || strings.Contains(dump(r), "SECRET") {
		t.Errorf("credentials in the findings:\n%s", dump(r))
	}
}

func TestLeftoverCurlrc(t *testing.T) {
	e := newTestEnv(t, "")
	testutil.WriteFiles(t, e.home, map[string]string{
		".curlrc": "# curl defaults\nsilent\n--proxy = \"http://curl-proxy.example:8080\"\n-x socks5h://other.example\nproxy-insecure\n",
	})
	r := e.run(Options{})
	fs := findings(r, "GH016")
	if len(fs) != 2 {
		t.Fatalf("want 2 GH016 findings, got:\n%s", dump(r))
	}
	if fs[0].Location.Line != 3 || fs[1].Location.Line != 4 || !strings.Contains(fs[0].Message, "http://curl-proxy.example:8080") ||
		!strings.Contains(fs[0].Message, "the go command does not read .curlrc and uses no https proxy") {
		t.Errorf("findings:\n%s", dump(r))
	}
}

// The findings in files carry their file and line into SARIF.
func TestLeftoverSARIFLocation(t *testing.T) {
	e := newTestEnv(t, "")
	testutil.WriteFiles(t, e.home, map[string]string{".bashrc": "\nexport HTTPS_PROXY=http://p.example:1\n"})
	r := e.run(Options{})
	f := one(t, r, "GH013")
	if f.Location.Line != 2 || f.Source != FromFile {
		t.Fatalf("finding %+v", f)
	}
}

func TestShellWords(t *testing.T) {
	for _, c := range []struct {
		line string
		want []string
	}{
		{`export A="x y" B='z'`, []string{"export", "A=x y", "B=z"}},
		{`A=1 # comment`, []string{"A=1"}},
		{`A=a#b`, []string{"A=a#b"}},
		{`A=1; export A`, []string{"A=1"}},
		{`A=x\ y`, []string{"A=x y"}},
		{`A="unterminated`, []string{"A=unterminated"}},
	} {
		got := strings.Join(shellWords(c.line), "|")
		if got != strings.Join(c.want, "|") {
			t.Errorf("shellWords(%q) = %q, want %q", c.line, got, strings.Join(c.want, "|"))
		}
	}
}
