// Package testutil holds small helpers shared by tests.
package testutil

import (
	"os"
	"os/exec"
	"testing"
)

// Strict reports whether tests run under make test, where every dependency
// must be present: a missing one fails the test instead of skipping it.
func Strict() bool { return os.Getenv("GATEHOUSE_TEST_STRICT") != "" }

// RequireCommand returns the path of an external command the test needs.
// Under make test a missing command fails the test; elsewhere it skips it.
func RequireCommand(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if Strict() {
			t.Fatalf("%s not found: make test-deps installs it", name)
		}
		t.Skipf("%s not found (run make test-deps)", name)
	}
	return p
}
