package dockerguard

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// SIGHUP puts new clients and profiles in force without a restart: a
// dashboard client promoted to ci may run containers, a removed client may
// do nothing, and a file that does not load changes nothing.
func TestReloadRules(t *testing.T) {
	e := newEnv(t)
	cfgFile := filepath.Join(e.tmp, "docker.toml")
	orig, err := os.ReadFile(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	e.refused(t, roClient, "default-deny", "run", "--rm", "--network", "none", image, "true")
	e.ok(t, ciClient, "ps")

	hup := func(want string, n int) {
		t.Helper()
		e.g.cmd.Process.Signal(syscall.SIGHUP)
		for deadline := time.Now().Add(10 * time.Second); strings.Count(e.g.logs(), want) < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q (%d) after SIGHUP:\n%s", want, n, e.g.logs())
			}
		}
	}

	// ro-client's entry now names the ci preset; ci-client's entry is gone.
	cfg := strings.Replace(string(orig), "cert = \"ro-client\"\nprofile = \"dashboard\"", "cert = \"ro-client\"\nprofile = \"ci\"", 1)
	cfg = strings.Replace(cfg, "[[clients]]\ncert = \"ci-client\"\nprofile = \"ci\"\n", "", 1)
	if cfg == string(orig) || strings.Contains(cfg, "ci-client") {
		t.Fatal("the test's edit of the configuration did not apply")
	}
	os.WriteFile(cfgFile, []byte(cfg), 0o644)
	hup("docker rules reloaded", 1)
	if out := e.ok(t, roClient, "run", "--rm", "--network", "none", image, "echo", "promoted"); out != "promoted" {
		t.Errorf("run after promotion: %q", out)
	}
	e.refused(t, roClient, "no-privileged", "run", "--rm", "--privileged", "--network", "none", image, "true")
	e.refused(t, ciClient, "unknown-client", "ps")

	// A profile naming an endpoint that does not exist: refused, and the
	// rules in force stay.
	os.WriteFile(cfgFile, []byte(cfg+"\n[profiles.broken]\nallow = [\"GET /no/such/endpoint\"]\n"), 0o644)
	hup("config reload refused", 1)
	e.ok(t, roClient, "ps")
	e.refused(t, ciClient, "unknown-client", "ps")

	// A changed listener setting is named as needing a restart.
	os.WriteFile(cfgFile, []byte("max_body = 4096\nshutdown_timeout = \"3s\"\n"+cfg), 0o644)
	// The warning follows the reload's line: wait for it, not for the reload.
	hup("take effect only at restart", 1)
	if logs := e.g.logs(); !strings.Contains(logs, "keys=shutdown-timeout") || strings.Count(logs, "docker rules reloaded") != 2 {
		t.Errorf("restart-only change not named:\n%s", logs)
	}
}
