package integration

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// A private module through the real go command and a git server: a
// pseudo-version of a denied tag's commit is refused like the tag, in each
// form the go command accepts, and min_age counts from when gatehouse
// first saw a tag, not from the commit date its author chose, across a
// restart too.
func TestPolicyPrivateAliasesAndAge(t *testing.T) {
	testutil.RequireCommand(t, "git")
	e := newPrivateEnv(t)
	pv := e.git.CreateRepo(t, "pv")
	files := func(s string) map[string]string {
		return map[string]string{"go.mod": "module git.corp.test/pv\n\ngo 1.21\n", "pv.go": "package pv\n\nconst V = \"" + s + "\"\n"}
	}
	pv.CommitAt(t, files("v0.9.0"), time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC))
	pv.Tag(t, "v0.9.0")
	pv.CommitAt(t, files("compromised"), time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
	pv.Tag(t, "v1.0.0")
	bad := pv.Head(t)
	pv.CommitAt(t, files("v1.1.0"), time.Date(2024, 5, 7, 0, 0, 0, 0, time.UTC))
	pv.Tag(t, "v1.1.0")
	good := pv.Head(t)

	aged := e.git.CreateRepo(t, "aged")
	// Backdated by its author to 2020, tagged now.
	aged.CommitAt(t, map[string]string{"go.mod": "module git.corp.test/aged\n\ngo 1.21\n", "aged.go": "package aged\n"},
		time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
	aged.Tag(t, "v1.0.0")

	policy := writePolicyFile(t, `
[[rule]]
name = "incident"
module_versions = ["git.corp.test/pv@v1.0.0"]
action = "deny"
reason = "compromised release"

[[rule]]
name = "cool-down"
modules = ["git.corp.test/aged"]
min_age = "72h"
action = "deny"
reason = "releases younger than 72h are held back"
`)
	start := func() *proc {
		return startServeEnv(t, e.data, e.git.Env(), "--config", e.config, "--upstream", e.up.URL, "--sumdb", e.up.GOSUMDB(),
			"--policy", policy, "--module-index", "off")
	}
	p := start()
	env := e.goEnv(t, p)

	t.Run("pseudo-version of a denied tag", func(t *testing.T) {
		if out, err := e.run(t, t.TempDir(), env, "mod", "download", "git.corp.test/pv@v1.0.0"); err == nil || !strings.Contains(out, `denied by rule "incident"`) {
			t.Fatalf("the tag itself: err %v\n%s", err, out)
		}
		for _, v := range []string{
			"v0.0.0-20240506070809-" + bad[:12],   // no base tag
			"v0.9.1-0.20240506070809-" + bad[:12], // after v0.9.0, an ancestor
		} {
			began := time.Now()
			out, err := e.run(t, t.TempDir(), env, "mod", "download", "git.corp.test/pv@"+v)
			t.Logf("go mod download git.corp.test/pv@%s refused in %v", v, time.Since(began).Round(time.Millisecond))
			if err == nil || !strings.Contains(out, "403 Forbidden") ||
				!strings.Contains(out, `gatehouse policy: git.corp.test/pv@`+v+` is denied by rule "incident" (as v1.0.0, a tag of the same commit): compromised release`) {
				t.Errorf("go mod download git.corp.test/pv@%s: err %v\n%s", v, err, out)
			}
			// A lookup in the own checksum log would fetch it: the same 403.
			if code, body := e.get(t, p.URL+"/sumdb/gatehouse/lookup/git.corp.test/pv@"+v); code != 403 || !strings.Contains(body, "as v1.0.0") {
				t.Errorf("checksum log lookup of %s: %d %q", v, code, body)
			}
			dir := t.TempDir()
			testutil.MustGo(t, dir, env, "mod", "init", "example.com/app")
			if out, err := e.run(t, dir, env, "get", "git.corp.test/pv@"+v); err == nil {
				t.Errorf("go get git.corp.test/pv@%s succeeded:\n%s", v, out)
			}
		}
		// The commit hash itself resolves through no proxy query.
		if out, err := e.run(t, t.TempDir(), env, "mod", "download", "git.corp.test/pv@"+bad[:12]); err == nil {
			t.Errorf("go mod download git.corp.test/pv@<hash>: succeeded\n%s", out)
		}
		// A pseudo-version of another commit is served.
		if out, err := e.run(t, t.TempDir(), env, "mod", "download", "git.corp.test/pv@v0.0.0-20240507000000-"+good[:12]); err != nil {
			t.Errorf("pseudo-version of the allowed v1.1.0: %v\n%s", err, out)
		}
	})

	published := regexp.MustCompile(`published (\S+),`)
	t.Run("backdated commit", func(t *testing.T) {
		out, err := e.run(t, t.TempDir(), env, "mod", "download", "git.corp.test/aged@v1.0.0")
		if err == nil || !strings.Contains(out, `denied by rule "cool-down"`) || !strings.Contains(out, "min_age is 72h") {
			t.Fatalf("backdated tag: err %v\n%s", err, out)
		}
		m := published.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("no publish time in:\n%s", out)
		}
		first, err := time.Parse(time.RFC3339, m[1])
		if err != nil || time.Since(first) > time.Hour {
			t.Fatalf("dated %s (%v), want first sight, just now", m[1], err)
		}
		// After a restart the tag is still dated by its first sight.
		p.stop(t)
		p2 := start()
		code, body := e.get(t, p2.URL+"/git.corp.test/aged/@v/v1.0.0.info")
		if m2 := published.FindStringSubmatch(body); code != 403 || m2 == nil || m2[1] != m[1] {
			t.Errorf("after restart: %d %q, want 403 published %s", code, body, m[1])
		}
	})
}
