package main

import (
	"os"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// docs/client-setup.md documents every sidecar and goauth setting.
func TestClientSetupDocumentsEveryKey(t *testing.T) {
	doc, err := os.ReadFile("../../docs/client-setup.md")
	if err != nil {
		t.Fatal(err)
	}
	c := config.DefaultClient()
	for _, k := range append(c.SidecarKeys(), c.GoAuthKeys()...) {
		if !strings.Contains(string(doc), "`--"+k.Name+"` | `"+k.TOMLName()+"`") {
			t.Errorf("docs/client-setup.md does not document --%s / %s", k.Name, k.TOMLName())
		}
	}
}
