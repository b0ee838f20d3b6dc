package main

import (
	"os"
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
