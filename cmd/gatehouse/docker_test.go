package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
)

// Bad settings, profiles and rules stop gatehouse docker at start with one
// line that names the key; nothing listens.
func TestDockerConfigErrors(t *testing.T) {
	dir := t.TempDir()
	sock := "unix://" + filepath.Join(dir, "g.sock")
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "listen"},
		{[]string{"--listen", "127.0.0.1:2376"}, "tls-cert"},
		{[]string{"--listen", "unix://relative.sock"}, "listen"},
		{[]string{"--listen", "nonsense"}, "listen"},
		{[]string{"--listen", sock, "--socket", "docker.sock"}, "socket"},
		{[]string{"--listen", sock, "--socket-mode", "rw"}, "socket-mode"},
		{[]string{"--listen", sock, "--bind-allowlist", "/does/not/exist"}, "bind-allowlist"},
		{[]string{"--listen", sock, "--audit-file", filepath.Join(dir, "no", "such", "dir", "audit.log")}, "audit-file"},
		{[]string{"--listen", sock, "--audit-max-size", "-1"}, "audit-max-size"},
		{[]string{"--listen", sock, "--audit-stdout=false"}, "audit-file"},
		{[]string{"--listen", sock, "--config", write("bad-rule.toml", "[profiles.p]\nallow = [\"GET /containers/{id}/shell\"]\n")}, "profiles.p"},
		{[]string{"--listen", sock, "--config", write("bad-preset.toml", "[profiles.p]\npresets = [\"admin\"]\n")}, "unknown preset"},
		{[]string{"--listen", sock, "--config", write("shadow.toml", "[profiles.ci]\npresets = [\"ci\"]\n")}, "profiles.ci"},
		{[]string{"--listen", sock, "--config", write("no-profile.toml", "[[clients]]\nuid = 1000\nprofile = \"nope\"\n")}, "clients[0].profile"},
		{[]string{"--listen", sock, "--config", write("two-ids.toml", "[[clients]]\nuid = 1000\ncert = \"x\"\nprofile = \"ci\"\n")}, "clients[0]"},
		{[]string{"--listen", sock, "--config", write("unknown-key.toml", "[[clients]]\nuser = \"bob\"\nprofile = \"ci\"\n")}, "unknown key"},
		{[]string{"--listen", sock, "--tls-cert", "x.pem", "--tls-key", "x.pem", "--client-ca", "x.pem"}, "tls-cert"},
		{[]string{"--listen", sock, "--metrics-listen", "9100"}, "metrics-listen"},
		{[]string{"--listen", sock, "--replica-id", "gh 1"}, "replica-id"},
		{[]string{"--listen", sock, "--replica-id", ""}, "replica-id"},
		{[]string{"--listen", sock, "--config", write("scoped-typo.toml", "[profiles.p]\npresets = [\"ci\"]\nowner_scope = true\n")}, "unknown key"},
	} {
		code, _, errOut := runCmd(t, nil, append([]string{"docker"}, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", tc.args, code, errOut, tc.want)
		}
		if strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: error is not one line: %q", tc.args, errOut)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "g.sock")); err == nil {
		t.Error("a failed start left a socket behind")
	}
}

// docs/docker.md documents every setting of gatehouse docker and every rule
// of the presets.
func TestDockerDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/docker.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range config.DefaultDocker().Keys() {
		if !strings.Contains(string(doc), "`--"+k.Name+"`") || !strings.Contains(string(doc), "`"+k.TOMLName()+"`") {
			t.Errorf("docs/docker.md does not document --%s / %s", k.Name, k.TOMLName())
		}
	}
	for _, p := range rules.PresetNames() {
		for _, r := range rules.PresetRules(p) {
			if !strings.Contains(string(doc), r) {
				t.Errorf("docs/docker.md does not list %q of preset %s", r, p)
			}
		}
	}
}

// The example configuration in docs/docker.md is valid: its keys exist and
// its rules name real endpoints.
func TestDockerDocExample(t *testing.T) {
	doc, err := os.ReadFile("../../docs/docker.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```toml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("no TOML example in docs/docker.md")
	}
	cfg := config.DefaultDocker()
	md, err := toml.Decode(example, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		t.Fatalf("unknown keys in the example: %v", und)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	clients, err := dockerClients(cfg)
	if err != nil || len(clients) != 3 {
		t.Fatalf("clients: %d, %v", len(clients), err)
	}
}

// gatehouse docker reads GATEHOUSE_DOCKER_* variables, never serve's.
func TestDockerEnvironmentPrefix(t *testing.T) {
	for _, k := range config.DefaultDocker().Keys() {
		if !strings.HasPrefix(k.EnvName(), config.DockerEnvPrefix) {
			t.Errorf("--%s reads %s", k.Name, k.EnvName())
		}
	}
}
