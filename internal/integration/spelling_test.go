package integration

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/module"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testgit"
	"github.com/gatehouse-dev/gatehouse/internal/testpki"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// spellingSetup is gatehouse over https in front of a git host with one
// private repository, git.corp.test/secret, that only the team group may
// see, and a policy that refuses one of its versions. Everything else on
// the host is open to every identity, anonymous included: that is where a
// prober compares a hidden module with one that does not exist.
type spellingSetup struct {
	git    *testgit.Server
	p      *proc
	ca     *testpki.CA
	caFile string
	tokens map[string]string // name → token
	sumdb  string            // the own checksum log's name
	audit  string            // the audit log file
}

// The secret repository's content: each marker must never reach a caller
// without access, under any spelling.
const (
	secretNoGoMod = "SECRET-v0.1.0-without-go-mod"
	secretV1      = "SECRET-v1.0.0"
)

// hasSecret reports whether s holds the secret repository's content (a zip
// is compressed: callers check for one separately).
func hasSecret(s string) bool {
	return strings.Contains(s, secretNoGoMod) || strings.Contains(s, secretV1)
}

func newSpellingSetup(t *testing.T) *spellingSetup {
	testutil.RequireCommand(t, "git")
	dir := t.TempDir()
	s := &spellingSetup{tokens: map[string]string{}, sumdb: "gatehouse"}
	s.git = testgit.New(t, "deploy", gitSecret, "git.corp.test")
	secret := s.git.CreateRepo(t, "secret")
	// v0.1.0 has no go.mod: the go command synthesizes "module <asked path>".
	secret.Commit(t, map[string]string{"secret.go": "package secret\n\nconst Marker = \"" + secretNoGoMod + "\"\n"})
	secret.Tag(t, "v0.1.0")
	secret.Commit(t, map[string]string{
		"go.mod":    "module git.corp.test/secret\n\ngo 1.21\n",
		"secret.go": "package secret\n\nconst Marker = \"" + secretV1 + "\"\n",
	})
	secret.Tag(t, "v1.0.0")
	banned := s.git.CreateRepo(t, "banned")
	banned.Commit(t, map[string]string{"go.mod": "module git.corp.test/banned\n\ngo 1.21\n", "b.go": "package banned\n"})
	banned.Tag(t, "v1.0.0")

	s.ca = testpki.NewCA(t, "gatehouse test CA")
	s.caFile = s.ca.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := s.ca.Server(t).WriteFiles(t, dir, "server")
	policy := filepath.Join(dir, "policy.toml")
	if err := os.WriteFile(policy, []byte(`
[[rule]]
name = "incident"
action = "deny"
reason = "withdrawn"
module_versions = ["git.corp.test/secret@v1.0.0"]

[[rule]]
name = "banned"
action = "deny"
reason = "not for use"
modules = ["git.corp.test/banned"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	var cfg strings.Builder
	s.audit = filepath.Join(dir, "audit.log")
	fmt.Fprintf(&cfg, "tls_cert = %q\ntls_key = %q\npolicy = %q\naudit_file = %q\nallow_anonymous = true\n", certFile, keyFile, policy, s.audit)
	cfg.WriteString(`private = ["git.corp.test"]
private_hosts = ["git.corp.test"]
private_timeout = "1m"

[[private_netrc]]
machine = "git.corp.test"
login = "deploy"
password = "` + gitSecret + `"
`)
	for _, tk := range []struct{ name, group string }{{"team", "team"}, {"web", "web"}} {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		s.tokens[tk.name] = tok
		fmt.Fprintf(&cfg, "[[token]]\nname = %q\nhash = %q\ngroups = [%q]\n", tk.name, hash, tk.group)
	}
	cfg.WriteString(`
[[access]]
modules = ["git.corp.test/secret"]
groups = ["team"]

[[access]]
modules = ["**"]
groups = ["*"]
`)
	cfgFile := filepath.Join(dir, "gatehouse.toml")
	if err := os.WriteFile(cfgFile, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	// The public upstream is never asked: every module here is private.
	s.p = startServeEnv(t, "", s.git.Env(), "--config", cfgFile, "--upstream", "http://127.0.0.1:1")
	s.p.URL = "https://" + strings.TrimPrefix(s.p.URL, "http://")
	return s
}

// goEnv is a go command that uses gatehouse as its proxy and checksum log,
// sending login:password from a netrc (empty password: anonymous).
func (s *spellingSetup) goEnv(t *testing.T, login, password string) []string {
	netrc := filepath.Join(t.TempDir(), "netrc")
	content := ""
	if password != "" {
		content = fmt.Sprintf("machine %s login %s password %s\n", strings.TrimPrefix(s.p.URL, "https://"), login, password)
	}
	if err := os.WriteFile(netrc, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	// GONOSUMDB: the private module's hashes are not what is under test,
	// and a lookup is itself a request the gates must refuse (tested below).
	return testutil.GoEnv(t, "GOPROXY="+s.p.URL, "GOSUMDB=off", "SSL_CERT_FILE="+s.caFile, "NETRC="+netrc)
}

// esc is a module path as the go command puts it in a URL (!-escaped case).
func esc(mod string) string {
	e, err := module.EscapePath(mod)
	if err != nil {
		panic(err)
	}
	return e
}

// get asks gatehouse for path as token name ("" for anonymous).
func (s *spellingSetup) get(t *testing.T, name, path string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: s.ca.Pool()}}}
	if name == "" {
		return fetch(t, c, s.p.URL+path)
	}
	return fetch(t, c, s.p.URL+path, "Authorization", "Bearer "+s.tokens[name])
}

// Spellings of git.corp.test/secret that the go command fetches from the
// same repository (the git server serves secret.git at /secret, and
// /secret.git; cmd/go maps secret.git.git to the repository secret.git).
// Case differs too: most git hosts ignore it (testgit does not, so there
// these read nothing, but the gates must judge them as the repository).
var secretSpellings = []string{"git.corp.test/secret.git.git", "git.corp.test/secret.git", "git.corp.test/secret.git.git.git",
	"git.corp.test/Secret", "git.corp.test/SECRET.git.git"}

// TestSpellingsOfAPrivateModule tries other spellings of a private module's
// path, with the real go command and a real git server, as callers who may
// not see it and as one whose policy refuses a version of it.
func TestSpellingsOfAPrivateModule(t *testing.T) {
	s := newSpellingSetup(t)

	t.Run("go command without access", func(t *testing.T) {
		for _, who := range []struct{ login, password string }{{"", ""}, {"web", s.tokens["web"]}} {
			env := s.goEnv(t, who.login, who.password)
			for _, mod := range append([]string{"git.corp.test/secret"}, secretSpellings...) {
				for _, args := range [][]string{
					{"list", "-m", "-versions", mod},
					{"list", "-m", mod + "@latest"},
					{"mod", "download", "-json", mod + "@v0.1.0"},
					{"mod", "download", "-json", mod + "@v1.0.0"},
				} {
					out, err := testutil.Go(t, t.TempDir(), env, args...)
					// A list names no version: any version in its output leaked.
					leaked := args[0] == "list" && (strings.Contains(out, "v0.1.0") || strings.Contains(out, "v1.0.0"))
					if err == nil || leaked || strings.Contains(out, `"Zip"`) || hasSecret(out) {
						t.Errorf("as %q: go %s succeeded or leaked: err=%v\n%s", who.login, strings.Join(args, " "), err, out)
					}
				}
			}
		}
	})

	// Every request kind, every spelling, anonymous and a token without
	// access: the answer is a 404 with the very words a path that does not
	// exist gets, and never the repository's tags or content.
	t.Run("hidden answers like nonexistent", func(t *testing.T) {
		kinds := []string{"/@v/list", "/@latest", "/@v/v0.1.0.info", "/@v/v0.1.0.mod", "/@v/v0.1.0.zip", "/@v/v1.0.0.zip"}
		for _, who := range []string{"", "web"} {
			for _, hidden := range append([]string{"git.corp.test/secret"}, secretSpellings...) {
				// A path on the same host, under the same suffix, that no
				// repository has.
				missing := "git.corp.test/nosuch" + hidden[len("git.corp.test/secret"):]
				for _, kind := range kinds {
					st, body := s.get(t, who, "/"+esc(hidden)+kind)
					stMissing, bodyMissing := s.get(t, who, "/"+esc(missing)+kind)
					if st == 200 || hasSecret(body) || strings.HasPrefix(body, "PK") {
						t.Errorf("as %q: %s%s leaks: %d %q", who, hidden, kind, st, body)
					}
					if st != 404 || stMissing != 404 || strings.ReplaceAll(bodyMissing, missing, hidden) != body {
						t.Errorf("as %q: %s%s: %d %q; nonexistent %s%s: %d %q", who, hidden, kind, st, body, missing, kind, stMissing, bodyMissing)
					}
				}
				// Lookups in gatehouse's own log, and in the public database
				// (which never looks up a private module).
				for _, db := range []string{s.sumdb, "sum.golang.org"} {
					for _, vers := range []string{"v0.1.0", "v1.0.0"} {
						st, body := s.get(t, who, "/sumdb/"+db+"/lookup/"+esc(hidden)+"@"+vers)
						stMissing, bodyMissing := s.get(t, who, "/sumdb/"+db+"/lookup/"+esc(missing)+"@"+vers)
						if st != 404 || stMissing != 404 || strings.ReplaceAll(bodyMissing, missing, hidden) != body {
							t.Errorf("as %q: %s lookup %s@%s: %d %q; nonexistent %s: %d %q", who, db, hidden, vers, st, body, missing, stMissing, bodyMissing)
						}
					}
				}
			}
		}
	})

	// The team may see the module; the policy refuses its v1.0.0 and the
	// whole of git.corp.test/banned. No spelling gets around either.
	t.Run("deny rules hold for every spelling", func(t *testing.T) {
		for _, mod := range append([]string{"git.corp.test/secret"}, secretSpellings...) {
			for _, kind := range []string{"/@v/v1.0.0.info", "/@v/v1.0.0.mod", "/@v/v1.0.0.zip"} {
				if st, body := s.get(t, "team", "/"+esc(mod)+kind); st == 200 || hasSecret(body) || strings.HasPrefix(body, "PK") {
					t.Errorf("team: %s%s: %d %q, want a refusal", mod, kind, st, body)
				}
			}
			// @latest must not choose the refused version either.
			if st, body := s.get(t, "team", "/"+esc(mod)+"/@latest"); strings.Contains(body, "v1.0.0") {
				t.Errorf("team: %s/@latest: %d %q", mod, st, body)
			}
		}
		for _, mod := range []string{"git.corp.test/banned.git.git", "git.corp.test/banned.git", "git.corp.test/banned"} {
			for _, kind := range []string{"/@v/list", "/@latest", "/@v/v1.0.0.info", "/@v/v1.0.0.zip"} {
				if st, body := s.get(t, "team", "/"+esc(mod)+kind); st == 200 {
					t.Errorf("team: %s%s: %d %q, want a refusal", mod, kind, st, body)
				}
			}
		}
		env := s.goEnv(t, "team", s.tokens["team"])
		for _, mod := range secretSpellings {
			out, err := testutil.Go(t, t.TempDir(), env, "mod", "download", "-json", mod+"@v1.0.0")
			if err == nil || strings.Contains(out, `"Zip"`) {
				t.Errorf("team: go mod download %s@v1.0.0: err=%v\n%s", mod, err, out)
			}
		}
	})

	// One repository, one name: a spelling other than the one its go.mod
	// declares is not served, whatever the request kind, and a go.mod the
	// go command synthesized (v0.1.0 has none) vouches only for the plain
	// path. The plain path works.
	t.Run("one name per repository", func(t *testing.T) {
		env := s.goEnv(t, "team", s.tokens["team"])
		if out := testutil.MustGo(t, t.TempDir(), env, "list", "-m", "-versions", "git.corp.test/secret"); strings.TrimSpace(out) != "git.corp.test/secret v0.1.0" {
			t.Errorf("team: go list -versions: %q (v1.0.0 is refused by the policy)", out)
		}
		if out := testutil.MustGo(t, t.TempDir(), env, "mod", "download", "-json", "git.corp.test/secret@v0.1.0"); !strings.Contains(out, `"Zip"`) {
			t.Errorf("team: go mod download of the plain path: %s", out)
		}
		for _, mod := range secretSpellings {
			for _, kind := range []string{"/@v/list", "/@latest", "/@v/v0.1.0.info", "/@v/v0.1.0.mod", "/@v/v0.1.0.zip"} {
				st, body := s.get(t, "team", "/"+esc(mod)+kind)
				if st != 404 || !strings.HasPrefix(body, "not found: ") {
					t.Errorf("team: %s%s: %d %q, want 404 not found", mod, kind, st, body)
				}
			}
		}
	})

	// Each refusal is audited with its real reason, which the caller never sees.
	t.Run("audited", func(t *testing.T) {
		s.p.stop(t)
		want := map[string]bool{
			"anonymous git.corp.test/secret.git.git list deny no access to module":                           false,
			"web git.corp.test/secret.git.git zip deny no access to module":                                  false,
			"web git.corp.test/Secret latest deny no access to module":                                       false,
			"team git.corp.test/secret.git.git list deny another spelling of a private repository's path":    false,
			"team git.corp.test/secret.git.git.git zip deny another spelling of a private repository's path": false,
		}
		for _, r := range readAudit(t, s.audit) {
			key := fmt.Sprintf("%v %v %v %v %v", r["identity"], r["module"], r["kind"], r["decision"], r["reason"])
			if _, ok := want[key]; ok && r["status"] == float64(404) {
				want[key] = true
			}
		}
		for k, seen := range want {
			if !seen {
				t.Errorf("no 404 audit record %q", k)
			}
		}
	})
}

// TestSpellingsOfANarrowPrivatePattern: with a private pattern that names
// one repository (not its whole host), other spellings of that repository's
// path (a VCS suffix, other case) are private too. Routed as public, they
// would send the private path to the public upstream and its checksum
// database, which "private" promises never to do.
func TestSpellingsOfANarrowPrivatePattern(t *testing.T) {
	testutil.RequireCommand(t, "git")
	git := testgit.New(t, "deploy", gitSecret, "git.corp.test")
	secret := git.CreateRepo(t, "secret")
	secret.Commit(t, map[string]string{"go.mod": "module git.corp.test/secret\n\ngo 1.21\n", "s.go": "package secret\n"})
	secret.Tag(t, "v1.0.0")
	up := testproxy.New(t)
	cfgFile := filepath.Join(t.TempDir(), "gatehouse.toml")
	if err := os.WriteFile(cfgFile, []byte(`
private = ["git.corp.test/secret"]
private_hosts = ["git.corp.test"]
private_timeout = "1m"

[[private_netrc]]
machine = "git.corp.test"
login = "deploy"
password = "`+gitSecret+`"
`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServeEnv(t, "", git.Env(), "--config", cfgFile, "--upstream", up.URL, "--sumdb", up.GOSUMDB())
	c := &http.Client{}
	// The plain path is private and served from the git host.
	if st, body := fetch(t, c, p.URL+"/git.corp.test/secret/@v/list"); st != 200 || body != "v1.0.0\n" {
		t.Fatalf("plain path: %d %q", st, body)
	}
	env := testutil.GoEnv(t, "GOPROXY="+p.URL, "GOSUMDB=off")
	for _, mod := range []string{"git.corp.test/secret.git", "git.corp.test/Secret", "git.corp.test/secret.git/v2", "git.corp.test/Secret.git/sub"} {
		before := up.TotalCount()
		testutil.Go(t, t.TempDir(), env, "list", "-m", "-versions", mod)
		testutil.Go(t, t.TempDir(), env, "mod", "download", "-json", mod+"@v1.0.0")
		for _, path := range []string{
			"/" + esc(mod) + "/@latest",
			"/" + esc(mod) + "/@v/v1.0.0.info",
			"/sumdb/" + testproxy.SumDBName + "/lookup/" + esc(mod) + "@v1.0.0",
			"/sumdb/gatehouse/lookup/" + esc(mod) + "@v1.0.0", // the own log fills itself from the route
		} {
			fetch(t, c, p.URL+path)
		}
		if n := up.TotalCount() - before; n != 0 {
			t.Errorf("%s: %d requests reached the public upstream or its checksum database", mod, n)
		}
	}
}

// TestAccessRuleInOtherCase: an access rule written with upper case
// (git.corp.test/Secret, as a web UI may show the name) hides the
// repository under the lower-case spelling the go command uses too, with
// the real go command and git server.
func TestAccessRuleInOtherCase(t *testing.T) {
	testutil.RequireCommand(t, "git")
	git := testgit.New(t, "deploy", gitSecret, "git.corp.test")
	secret := git.CreateRepo(t, "secret")
	secret.Commit(t, map[string]string{"go.mod": "module git.corp.test/secret\n\ngo 1.21\n", "s.go": "package secret\n\nconst Marker = \"" + secretV1 + "\"\n"})
	secret.Tag(t, "v1.0.0")
	cfgFile := filepath.Join(t.TempDir(), "gatehouse.toml")
	if err := os.WriteFile(cfgFile, []byte(`
private = ["git.corp.test"]
private_timeout = "1m"

[[private_netrc]]
machine = "git.corp.test"
login = "deploy"
password = "`+gitSecret+`"

[[access]]
modules = ["git.corp.test/Secret"]
groups = ["team"]

[[access]]
modules = ["**"]
groups = ["*"]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startServeEnv(t, "", git.Env(), "--config", cfgFile, "--upstream", "http://127.0.0.1:1")
	env := testutil.GoEnv(t, "GOPROXY="+p.URL, "GOSUMDB=off")
	for _, args := range [][]string{
		{"list", "-m", "-versions", "git.corp.test/secret"},
		{"mod", "download", "-json", "git.corp.test/secret@v1.0.0"},
	} {
		out, err := testutil.Go(t, t.TempDir(), env, args...)
		if err == nil || strings.Contains(out, "v1.0.0\n") || strings.Contains(out, `"Zip"`) || hasSecret(out) {
			t.Errorf("anonymous go %s: err=%v\n%s", strings.Join(args, " "), err, out)
		}
	}
}
