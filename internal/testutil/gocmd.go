package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// GoEnv returns a clean environment for a child go command: its own GOPATH
// and module cache under a temp dir, no settings from the machine (GOENV,
// GOFLAGS, GONOSUMDB, GOPRIVATE, GOINSECURE, toolchain switching), and the
// given KEY=VALUE pairs appended last so they win. The build cache is shared
// to keep tests fast; it is content-addressed, so sharing is safe.
func GoEnv(t testing.TB, extra ...string) []string {
	t.Helper()
	home := t.TempDir()
	gocache := os.Getenv("GOCACHE")
	if gocache == "" {
		if dir, err := os.UserCacheDir(); err == nil {
			gocache = filepath.Join(dir, "go-build")
		}
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GOPATH=" + filepath.Join(home, "gopath"),
		"GOMODCACHE=" + filepath.Join(home, "modcache"),
		"GOCACHE=" + gocache,
		"GOENV=off",
		"GOFLAGS=-modcacherw", // lets t.TempDir remove the module cache
		"GOTOOLCHAIN=local",
		"GOWORK=off",
		"GONOSUMDB=", "GONOSUMCHECK=", "GONOPROXY=", "GOPRIVATE=", "GOINSECURE=",
		"GOTELEMETRY=off",
		"CGO_ENABLED=0",
		"GIT_TERMINAL_PROMPT=0",
		"GOPROXY=off",
		"GOSUMDB=off",
	}
	if root := os.Getenv("GOROOT"); root != "" {
		env = append(env, "GOROOT="+root)
	}
	return append(env, extra...)
}

// Go runs the go command in dir with env and returns its combined output.
func Go(t testing.TB, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(RequireCommand(t, "go"), args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// MustGo is Go that fails the test on error.
func MustGo(t testing.TB, dir string, env []string, args ...string) string {
	t.Helper()
	out, err := Go(t, dir, env, args...)
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// WriteFiles writes name → content under dir.
func WriteFiles(t testing.TB, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
