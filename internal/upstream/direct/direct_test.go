package direct_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testgit"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/upstream/direct"
)

const password = "pa55-w0rd-never-printed"

// One git host and one Source for every test in this file: the real go
// and git round trips cost seconds.
var (
	setupOnce sync.Once
	git       *testgit.Server
	src       *direct.Source
	logs      testutil.Buffer
	setupErr  error
)

func setup(t *testing.T) (*testgit.Server, *direct.Source) {
	t.Helper()
	testutil.RequireCommand(t, "go")
	testutil.RequireCommand(t, "git")
	setupOnce.Do(func() {
		git = testgit.New(keepAlive{t}, "deploy", password, "git.corp.test", "evil.test")
		repo := git.CreateRepo(keepAlive{t}, "lib")
		repo.Commit(keepAlive{t}, map[string]string{"go.mod": "module git.corp.test/lib\n\ngo 1.21\n", "lib.go": "package lib\n\nconst V = 1\n"})
		repo.Tag(keepAlive{t}, "v1.0.0")
		repo.Commit(keepAlive{t}, map[string]string{"lib.go": "package lib\n\nconst V = 2\n"})
		repo.Tag(keepAlive{t}, "v1.1.0")
		// A go-import tag on a listed host that points at another host.
		git.SetMeta("git.corp.test/redirect", "https://evil.test/lib.git")
		env := map[string]string{"PATH": os.Getenv("PATH"), "SSL_CERT_FILE": git.CAFile, "GIT_SSL_CAINFO": git.CAFile}
		proxy, _ := url.Parse(git.ProxyURL)
		dir, _ := os.MkdirTemp(baseDir, "direct-")
		src, setupErr = direct.New(direct.Options{
			Private: "git.corp.test,*.internal.test",
			Hosts:   direct.Hosts{"git.corp.test"},
			TempDir: dir, Timeout: time.Minute, MaxFetches: 2,
			Creds:       direct.Credentials{Netrc: []direct.NetrcEntry{{Machine: "git.corp.test", Login: "deploy", Password: password}}},
			Getenv:      func(k string) string { return env[k] },
			ParentProxy: http.ProxyURL(proxy),
			Logger:      slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		})
	})
	if setupErr != nil {
		t.Fatal(setupErr)
	}
	return git, src
}

// keepAlive runs setup helpers with t, but keeps their cleanups until the
// process exits (the shared server must outlive the first test).
type keepAlive struct{ *testing.T }

func (keepAlive) Cleanup(func()) {}
func (k keepAlive) TempDir() string {
	d, err := os.MkdirTemp(baseDir, "testgit-")
	if err != nil {
		k.T.Fatal(err)
	}
	return d
}

var baseDir string

func TestMain(m *testing.M) {
	var err error
	if baseDir, err = os.MkdirTemp("", "direct-test-"); err != nil {
		panic(err)
	}
	code := m.Run()
	if src != nil {
		src.Close()
	}
	os.RemoveAll(baseDir)
	os.Exit(code)
}

func TestListLatestDownload(t *testing.T) {
	_, s := setup(t)
	ctx := context.Background()
	list, err := s.List(ctx, "git.corp.test/lib")
	if err != nil || strings.Join(list, " ") != "v1.0.0 v1.1.0" {
		t.Fatalf("List = %v, %v", list, err)
	}
	info, err := s.Latest(ctx, "git.corp.test/lib")
	if err != nil || !strings.Contains(string(info), `"Version":"v1.1.0"`) {
		t.Fatalf("Latest = %s, %v", info, err)
	}
	info, err = s.Info(ctx, "git.corp.test/lib", "v1.0.0")
	// The commit hash is kept (the policy matches pseudo-versions to tags
	// by it); the repository's URL and host are not.
	if err != nil || !strings.Contains(string(info), `"v1.0.0"`) || !regexp.MustCompile(`"Origin":\{"VCS":"git","Hash":"[0-9a-f]{40}","Ref":"refs/tags/v1.0.0"\}`).Match(info) ||
		strings.Contains(string(info), "URL") || strings.Contains(string(info), "git.corp.test") {
		t.Fatalf("Info = %s, %v (must carry the commit, not the repository URL)", info, err)
	}
	mod, err := s.GoMod(ctx, "git.corp.test/lib", "v1.0.0")
	if err != nil || !strings.HasPrefix(string(mod), "module git.corp.test/lib") {
		t.Fatalf("GoMod = %q, %v", mod, err)
	}
	rc, err := s.Zip(ctx, "git.corp.test/lib", "v1.0.0")
	if err != nil {
		t.Fatal(err)
	}
	zip, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Contains(zip, []byte("git.corp.test/lib@v1.0.0/lib.go")) {
		t.Error("zip lacks lib.go")
	}
	z, m, err := s.Hashes(ctx, "git.corp.test/lib", "v1.0.0")
	if err != nil || !strings.HasPrefix(z, "h1:") || !strings.HasPrefix(m, "h1:") {
		t.Fatalf("Hashes = %s %s %v", z, m, err)
	}
	if _, err := s.GoMod(ctx, "git.corp.test/lib", "v9.9.9"); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("unknown version: %v, want ErrNotFound", err)
	}
	if strings.Contains(logs.String(), password) {
		t.Error("the password is in the log")
	}
}

// A module path on a host not on the list, and option-like arguments, are
// refused before any child runs: the network sees no connection at all.
// A VCS-qualified path (lib.git) names the same repository as lib, and go
// mod download does not check the go.mod's module line: served, it would
// hand lib's code to a caller whose access or policy rules cover only the
// other spelling. The go command itself refuses such a module in a build.
func TestOtherSpellingOfARepositoryRefused(t *testing.T) {
	_, s := setup(t)
	ctx := context.Background()
	if _, err := s.Zip(ctx, "git.corp.test/lib.git", "v1.0.0"); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("zip of git.corp.test/lib.git: %v, want ErrNotFound", err)
	}
	if _, err := s.Info(ctx, "git.corp.test/lib.git", "v1.1.0"); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("info of git.corp.test/lib.git: %v, want ErrNotFound", err)
	}
	if _, err := s.Zip(ctx, "git.corp.test/lib", "v1.0.0"); err != nil {
		t.Errorf("zip of git.corp.test/lib: %v", err)
	}
	// The list and @latest of a spelling are checked against the go.mod of
	// the version @latest resolves to, like a download; lib.git.git (the
	// repository lib.git, which the server serves as lib) is refused
	// before any child runs.
	for _, mod := range []string{"git.corp.test/lib.git", "git.corp.test/lib.git.git"} {
		if list, err := s.List(ctx, mod); !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("list of %s: %v, %v; want ErrNotFound", mod, list, err)
		}
		if info, err := s.Latest(ctx, mod); !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("latest of %s: %s, %v; want ErrNotFound", mod, info, err)
		}
	}
}

// For a commit without a go.mod the go command synthesizes one naming the
// path as asked, so it matches any spelling: it vouches only for the plain
// path.
func TestSynthesizedGoModVouchesOnlyForThePlainPath(t *testing.T) {
	git, s := setup(t)
	ctx := context.Background()
	repo := git.CreateRepo(keepAlive{t}, "legacy")
	repo.Commit(keepAlive{t}, map[string]string{"legacy.go": "package legacy\n"})
	repo.Tag(keepAlive{t}, "v0.1.0")
	if mod, err := s.GoMod(ctx, "git.corp.test/legacy", "v0.1.0"); err != nil || string(mod) != "module git.corp.test/legacy\n" {
		t.Fatalf("go.mod of the plain path: %q, %v", mod, err)
	}
	if list, err := s.List(ctx, "git.corp.test/legacy"); err != nil || strings.Join(list, " ") != "v0.1.0" {
		t.Errorf("list of the plain path: %v, %v", list, err)
	}
	for _, mod := range []string{"git.corp.test/legacy.git", "git.corp.test/legacy.git.git"} {
		if _, err := s.Zip(ctx, mod, "v0.1.0"); !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("zip of %s: %v, want ErrNotFound", mod, err)
		}
		if list, err := s.List(ctx, mod); !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("list of %s: %v, %v; want ErrNotFound", mod, list, err)
		}
		if info, err := s.Latest(ctx, mod); !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("latest of %s: %s, %v; want ErrNotFound", mod, info, err)
		}
	}
	// A repository that does not exist, under a VCS-qualified path, is not
	// found too (the go command says "no secure protocol found").
	if _, err := s.List(ctx, "git.corp.test/nosuch.git"); !errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("list of a missing git.corp.test/nosuch.git: %v, want ErrNotFound", err)
	}
}

// The go command says "no secure protocol found" both for a missing
// repository at a VCS-qualified path and for one whose host is down. The
// second is an outage, not "not found": a 404 would make the go command
// try its next proxy with the private path.
func TestUnreachableHostIsNotNotFound(t *testing.T) {
	g, _ := setup(t)
	proxy, _ := url.Parse(g.ProxyURL) // answers 502 for hosts it does not serve
	env := map[string]string{"PATH": os.Getenv("PATH"), "SSL_CERT_FILE": g.CAFile, "GIT_SSL_CAINFO": g.CAFile}
	dir, _ := os.MkdirTemp(baseDir, "down-")
	s, err := direct.New(direct.Options{
		Private: "down.test", Hosts: direct.Hosts{"down.test"}, TempDir: dir, Timeout: time.Minute,
		Getenv: func(k string) string { return env[k] }, ParentProxy: http.ProxyURL(proxy),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.List(context.Background(), "down.test/lib.git")
	if err == nil || errors.Is(err, upstream.ErrNotFound) || !strings.Contains(err.Error(), "no secure protocol found") {
		t.Errorf("list at an unreachable host: %v, want an error that is not ErrNotFound", err)
	}
}

func TestRefusedWithoutConnection(t *testing.T) {
	g, s := setup(t)
	before := g.Accepted()
	for _, p := range []string{"secret.internal.test/x", "evil.test/lib"} {
		_, err := s.GoMod(context.Background(), p, "v1.0.0")
		var re *direct.RefusedError
		if !errors.As(err, &re) || re.HTTPStatus() != 403 {
			t.Errorf("%s: err = %v, want RefusedError", p, err)
		}
		if _, err := s.List(context.Background(), p); !errors.As(err, &re) {
			t.Errorf("%s list: err = %v, want RefusedError", p, err)
		}
	}
	for _, v := range []string{"-x", "--upload-pack=touch /tmp/pwned", "v1.0.0 -x", "latest"} {
		if _, err := s.GoMod(context.Background(), "git.corp.test/lib", v); !errors.Is(err, upstream.ErrNotFound) {
			t.Errorf("version %q: err = %v, want refused as not found", v, err)
		}
	}
	if _, err := s.List(context.Background(), "-git.corp.test/x"); err == nil {
		t.Error("option-like path accepted")
	}
	if n := g.Accepted() - before; n != 0 {
		t.Errorf("%d connections were made for refused requests", n)
	}
	if g.Connects("evil.test") != 0 {
		t.Error("evil.test was contacted")
	}
}

// A go-import tag on a listed host that points at an unlisted one: the
// child's connection is refused by the egress proxy, never made.
func TestMetaRedirectToUnlistedHostRefused(t *testing.T) {
	g, s := setup(t)
	_, err := s.GoMod(context.Background(), "git.corp.test/redirect", "v1.0.0")
	if err == nil {
		t.Fatal("module behind a go-import tag to evil.test was fetched")
	}
	if errors.Is(err, upstream.ErrNotFound) {
		t.Errorf("a refused connection is reported as not found (the go command would fall through): %v", err)
	}
	if g.Connects("evil.test") != 0 {
		t.Errorf("evil.test was contacted %d times", g.Connects("evil.test"))
	}
	if !strings.Contains(logs.String(), "host=evil.test:443") || !strings.Contains(logs.String(), "not on the direct-fetch list") {
		t.Errorf("refusal not logged:\n%s", logs.String())
	}
	if strings.Contains(err.Error(), password) || strings.Contains(logs.String(), password) {
		t.Error("the password leaked")
	}
}

func TestHostsAllows(t *testing.T) {
	h := direct.Hosts{"git.corp.example", "*.corp.test", "code.example:8443"}
	for host, want := range map[string]bool{
		"git.corp.example": true, "git.corp.example:443": true, "git.corp.example:22": false,
		"GIT.CORP.EXAMPLE": true, "a.corp.test": true, "a.b.corp.test:443": true, "corp.test": false,
		"code.example": true, "code.example:8443": true, "code.example:443": false,
		"evil.example": false, "git.corp.example.evil.example": false, "": false,
	} {
		if got := h.Allows(host); got != want {
			t.Errorf("Allows(%q) = %v, want %v", host, got, want)
		}
	}
}

// A git credential helper alone (no netrc) serves both the go command's
// go-import lookup (GOAUTH=git) and git's own fetch.
func TestGitCredentialHelper(t *testing.T) {
	g, _ := setup(t)
	store := baseDir + "/git-credentials"
	if err := os.WriteFile(store, []byte("https://deploy:"+password+"@git.corp.test\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out testutil.Buffer
	env := map[string]string{"PATH": os.Getenv("PATH"), "SSL_CERT_FILE": g.CAFile, "GIT_SSL_CAINFO": g.CAFile}
	proxy, _ := url.Parse(g.ProxyURL)
	s, err := direct.New(direct.Options{
		Private: "git.corp.test", Hosts: direct.Hosts{"git.corp.test"}, TempDir: t.TempDir(), Timeout: time.Minute,
		Creds:       direct.Credentials{GitCredentialHelper: "store --file=" + store},
		Getenv:      func(k string) string { return env[k] },
		ParentProxy: http.ProxyURL(proxy),
		Logger:      slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	mod, err := s.GoMod(context.Background(), "git.corp.test/lib", "v1.1.0")
	if err != nil || !strings.HasPrefix(string(mod), "module git.corp.test/lib") {
		t.Fatalf("GoMod with a credential helper: %q, %v", mod, err)
	}
	if strings.Contains(out.String(), password) {
		t.Error("the password is in the log")
	}
}
