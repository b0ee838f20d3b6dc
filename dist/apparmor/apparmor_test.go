// Package apparmor holds no code: its tests check the AppArmor profiles
// shipped next to it.
package apparmor

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var profiles = []string{"gatehouse-serve", "gatehouse-docker"}

// findParser returns apparmor_parser, which Debian installs in /sbin
// (often not on a user's PATH).
func findParser() string {
	if p, err := exec.LookPath("apparmor_parser"); err == nil {
		return p
	}
	for _, p := range []string{"/sbin/apparmor_parser", "/usr/sbin/apparmor_parser"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Each profile parses and compiles with the real apparmor_parser; -Q loads
// nothing into the kernel, -K writes no cache. This test skips (even under
// GATEHOUSE_TEST_STRICT) where apparmor is not installed: scripts/deps.d/
// 50-apparmor.sh installs it on a machine with a network.
func TestProfilesParse(t *testing.T) {
	parser := findParser()
	if parser == "" {
		t.Skip("apparmor_parser not found: the profiles were not parsed (apt-get install apparmor; make test-deps does it)")
	}
	for _, name := range profiles {
		out, err := exec.Command(parser, "-Q", "-K", name).CombinedOutput()
		if err != nil {
			t.Errorf("apparmor_parser -Q %s: %v\n%s", name, err, out)
		}
	}
}

// rules returns a profile's rule lines, without comments and blanks.
func rules(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, l)
	}
	return out
}

// The least-privilege promises of the profiles, checked without the tool:
// a profile attached by name only (serve and docker are one binary), no
// capability, no raw or packet sockets, no write outside the paths each
// service owns, nothing executable in the docker guard, and serve never
// reaching the Docker socket.
func TestProfilesLeastPrivilege(t *testing.T) {
	writable := map[string][]string{
		"gatehouse-serve":  {"/var/lib/gatehouse/", "/var/log/gatehouse/", "/run/systemd/"},
		"gatehouse-docker": {"@{run}/gatehouse/", "@{run}/docker.sock", "/var/log/gatehouse/", "/run/systemd/"},
	}
	fileRule := regexp.MustCompile(`^(owner\s+)?(/|@\{)\S*\s+([a-zA-Z]+),$`)
	for _, name := range profiles {
		rs := rules(t, name)
		header := "profile " + name + " flags=(attach_disconnected) {"
		hasHeader := false
		for _, r := range rs {
			switch {
			case r == header:
				hasHeader = true
			case strings.HasPrefix(r, "profile "):
				t.Errorf("%s: %q: want %q (no attachment path)", name, r, header)
			case strings.HasPrefix(r, "capability"):
				t.Errorf("%s: %q: no capability is needed", name, r)
			case strings.HasPrefix(r, "network") && (strings.Contains(r, " raw") && !strings.Contains(r, "netlink raw") || strings.Contains(r, "packet") || r == "network,"):
				t.Errorf("%s: %q: no raw or packet sockets", name, r)
			case strings.HasPrefix(r, "deny ") || strings.HasPrefix(r, "include") || strings.HasPrefix(r, "abi ") || r == "}":
			case fileRule.MatchString(r):
				m := fileRule.FindStringSubmatch(r)
				path, perms := strings.Fields(strings.TrimPrefix(r, m[1]))[0], m[3]
				if strings.ContainsAny(perms, "wal") && !hasAnyPrefix(path, writable[name]) {
					t.Errorf("%s: %q writes outside %v", name, r, writable[name])
				}
				if strings.ContainsAny(perms, "xuUpPcC") && name == "gatehouse-docker" {
					t.Errorf("%s: %q: the docker guard runs no program", name, r)
				}
				if strings.Contains(path, "docker.sock") && name == "gatehouse-serve" {
					t.Errorf("%s: %q: serve has no business with the Docker socket", name, r)
				}
				if path == "/**" || path == "/" {
					t.Errorf("%s: %q: the whole file system", name, r)
				}
			case strings.HasPrefix(r, "network ") || strings.HasPrefix(r, "signal "):
			default:
				t.Errorf("%s: unexpected rule %q", name, r)
			}
		}
		if !hasHeader {
			t.Errorf("%s: no %q line", name, header)
		}
		if rs[len(rs)-1] != "}" {
			t.Errorf("%s: does not end with }", name)
		}
	}
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// The systemd units in the docs select the profiles by name.
func TestProfilesDocumented(t *testing.T) {
	for doc, want := range map[string]string{
		"deployment.md": "AppArmorProfile=gatehouse-serve",
		"docker.md":     "AppArmorProfile=gatehouse-docker",
	} {
		data, err := os.ReadFile(filepath.Join("..", "..", "docs", doc))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(data), want) || !strings.Contains(string(data), "dist/apparmor/") {
			t.Errorf("docs/%s does not mention %s and dist/apparmor/", doc, want)
		}
	}
}
