package integration

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// A lookup in the own checksum log adds only versions the proxy serves:
// the go.mod is fetched, verified and stored first. A version the public
// database knows but the proxy cannot serve verified (here: its upstream
// serves a go.mod that does not match) is not recorded.
func TestOwnLogRecordsOnlyServedVersions(t *testing.T) {
	testutil.RequireCommand(t, "git")
	e := newPrivateEnv(t)
	e.up.Tamper("example.com/hello", "v1.0.0", "mod", []byte("module example.com/hello\n\ngo 1.99\n"))
	p := e.start(t)
	if code, body := e.get(t, p.URL+"/sumdb/gatehouse/lookup/example.com/hello@v1.0.0"); code == 200 {
		t.Errorf("lookup of a version the proxy cannot serve was answered from the log: %s", body)
	}
	code, body := e.get(t, p.URL+"/sumdb/gatehouse/lookup/example.com/hello/v2@v2.0.0")
	if code != 200 || !strings.Contains(body, "example.com/hello/v2 v2.0.0 h1:") {
		t.Fatalf("lookup of a servable version: %d %s", code, body)
	}
	if _, err := os.Stat(filepath.Join(e.data, "example.com/hello/v2/@v/v2.0.0.mod")); err != nil {
		t.Errorf("a recorded version is not in the store: %v", err)
	}
}
