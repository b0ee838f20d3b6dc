package dist

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// The compose example cannot run here (no docker compose, no registry for
// redis and minio): it is checked as YAML, for its services, and that every
// flag and GATEHOUSE_* variable it gives gatehouse exists.
func TestComposeExample(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(root, "dist/compose/docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			ReadOnly    bool              `yaml:"read_only"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, s := range []string{"gatehouse", "redis", "s3", "docker-guard"} {
		if _, ok := f.Services[s]; !ok {
			t.Errorf("no service %q", s)
		}
	}
	keys := map[string]map[string]bool{"serve": {"config": true}, "docker": {"config": true}}
	for _, k := range config.DefaultServe().Keys() {
		keys["serve"][k.Name] = true
	}
	for _, k := range config.DefaultDocker().Keys() {
		keys["docker"][k.Name] = true
	}
	for name, s := range f.Services {
		if s.Image != "gatehouse:dev" {
			continue
		}
		if !s.ReadOnly {
			t.Errorf("%s: root file system not read-only", name)
		}
		if len(s.Command) == 0 || keys[s.Command[0]] == nil {
			t.Errorf("%s: command %q is not serve or docker", name, s.Command)
			continue
		}
		known := keys[s.Command[0]]
		for _, a := range s.Command[1:] {
			if flag, ok := strings.CutPrefix(a, "--"); ok && !known[strings.SplitN(flag, "=", 2)[0]] {
				t.Errorf("%s: gatehouse %s has no flag %s", name, s.Command[0], a)
			}
		}
		for v := range s.Environment {
			key, ok := strings.CutPrefix(v, "GATEHOUSE_")
			if ok && !known[strings.ReplaceAll(strings.ToLower(key), "_", "-")] {
				t.Errorf("%s: gatehouse %s reads no %s", name, s.Command[0], v)
			}
		}
	}
}
