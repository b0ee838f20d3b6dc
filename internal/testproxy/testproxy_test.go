package testproxy_test

import (
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// The real go command accepts the fixtures and the test checksum database,
// so later tests that go through gatehouse test gatehouse, not the fixtures.
func TestRealGoAgainstTestProxy(t *testing.T) {
	up := testproxy.New(t)
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		"go.mod":  "module example.com/app\n\ngo 1.21\n\nrequire example.com/hello v1.0.0\n",
		"main.go": "package main\n\nimport \"example.com/hello\"\n\nfunc main() { println(hello.World()) }\n",
	})
	env := testutil.GoEnv(t, "GOPROXY="+up.URL, "GOSUMDB="+up.GOSUMDB())
	testutil.MustGo(t, dir, env, "mod", "tidy")
	testutil.MustGo(t, dir, env, "mod", "download", "all")
	if out := testutil.MustGo(t, dir, env, "mod", "verify"); !strings.Contains(out, "all modules verified") {
		t.Fatalf("go mod verify: %s", out)
	}
	out := testutil.MustGo(t, dir, env, "run", ".")
	if !strings.Contains(out, "Hello, world!") {
		t.Fatalf("go run: %s", out)
	}

	// A tampered zip is caught by the go command itself against the test database.
	evil, err := testproxy.BuildZip("example.com/hello/v2", "v2.0.0", map[string]string{
		"go.mod":   string(up.Artifacts("example.com/hello/v2", "v2.0.0").Mod),
		"hello.go": "package hello\n\nfunc World() string { return \"pwned\" }\n",
	})
	if err != nil {
		t.Fatal(err)
	}
	up.Tamper("example.com/hello/v2", "v2.0.0", "zip", evil)
	out, err = testutil.Go(t, dir, env, "mod", "download", "example.com/hello/v2@v2.0.0")
	if err == nil || !strings.Contains(out, "SECURITY ERROR") {
		t.Fatalf("tampered zip accepted: %v\n%s", err, out)
	}
}
