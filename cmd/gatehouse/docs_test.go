package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// docs/configuration.md documents every serve setting: a key added without
// its documentation fails here.
func TestConfigurationDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range config.DefaultServe().Keys() {
		if !strings.Contains(string(doc), "`--"+k.Name+"`") || !strings.Contains(string(doc), "`"+k.TOMLName()+"`") {
			t.Errorf("docs/configuration.md does not document --%s / %s", k.Name, k.TOMLName())
		}
	}
}

// The example serve config in docs/deployment.md decodes with no unknown
// key, so the page cannot drift from the settings.
func TestDeploymentExampleDecodes(t *testing.T) {
	doc, err := os.ReadFile("../../docs/deployment.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(doc), "```toml\n")
	example, _, ok2 := strings.Cut(rest, "```")
	if !ok || !ok2 {
		t.Fatal("docs/deployment.md has no toml example")
	}
	example = strings.ReplaceAll(example, "sha256:…", "sha256:"+strings.Repeat("0", 64))
	file := filepath.Join(t.TempDir(), "serve.toml")
	os.WriteFile(file, []byte(example), 0o600)
	cfg := config.DefaultServe()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	keys := cfg.Keys()
	config.Bind(fs, keys)
	if err := config.Load(fs, keys, file, cfg, func(string) string { return "" }); err != nil {
		t.Fatalf("docs/deployment.md example: %v", err)
	}
	if cfg.Listen != "0.0.0.0:8443" || len(cfg.Tokens) != 1 {
		t.Errorf("example decoded to listen=%q tokens=%d", cfg.Listen, len(cfg.Tokens))
	}
}
