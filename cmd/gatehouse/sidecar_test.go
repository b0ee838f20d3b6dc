package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSidecarConfigErrors(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok-abc"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"sidecar", "--token-file", tokenFile}, "config: upstream"},
		{[]string{"sidecar", "--upstream", "https://u.example", "--listen", "0.0.0.0:9090", "--token-file", tokenFile}, "--allow-remote"},
		{[]string{"sidecar", "--upstream", "https://user:hunter2@u.example", "--token-file", tokenFile}, "holds credentials"},
		{[]string{"sidecar", "--upstream", "https://u.example"}, "no token source"},
		{[]string{"sidecar", "--upstream", "https://u.example", "--token-file", tokenFile, "--token-env", "X"}, "choose one token source"},
		{[]string{"sidecar", "--upstream", "https://u.example", "--gcp-metadata"}, "needs an audience"},
		{[]string{"sidecar", "--upstream", "https://u.example", "--token-file", tokenFile, "--client-cert", "c.pem"}, "client-cert"},
		{[]string{"sidecar", "--upstream", "https://u.example", "--token-file", tokenFile, "--ca-file", "/nonexistent/ca.pem"}, "ca-file"},
		{[]string{"sidecar", "--upstream", "https://u.example", "extra"}, "unexpected argument"},
	} {
		code, _, errOut := runCmd(t, nil, tc.args...)
		if code != 2 || !strings.Contains(errOut, tc.want) || strings.Count(strings.TrimSpace(errOut), "\n") > 0 {
			t.Errorf("%v: exit %d, %q; want one line with %q", tc.args, code, errOut, tc.want)
		}
		if strings.Contains(errOut, "hunter2") {
			t.Errorf("%v: password echoed: %q", tc.args, errOut)
		}
	}
}

func TestGoAuthPrintsHeaderBlock(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	os.WriteFile(tokenFile, []byte("tok-abc\n"), 0o600)
	conf := filepath.Join(dir, "client.toml")
	// One file for sidecar and goauth: goauth ignores the sidecar's keys.
	os.WriteFile(conf, []byte("upstream = \"https://gatehouse.corp.example/\"\nlisten = \"127.0.0.1:9999\"\ntoken_file = \""+tokenFile+"\"\n"), 0o600)

	code, out, errOut := runCmd(t, nil, "goauth", "--config", conf)
	if code != 0 || out != "https://gatehouse.corp.example\n\nAuthorization: Bearer tok-abc\n\n" {
		t.Fatalf("no-argument call: %d %q %q", code, out, errOut)
	}
	code, out, _ = runCmd(t, nil, "goauth", "--config", conf, "https://gatehouse.corp.example/example.com/m/@v/list")
	if code != 0 || !strings.Contains(out, "Authorization: Bearer tok-abc") {
		t.Errorf("URL under the prefix: %d %q", code, out)
	}
	for _, u := range []string{"https://gatehouse.corp.example.evil/x", "https://other.example/", "https://gatehouse.corp.examplex"} {
		code, out, _ = runCmd(t, nil, "goauth", "--config", conf, u)
		if code != 0 || out != "" {
			t.Errorf("foreign URL %s got credentials: %d %q", u, code, out)
		}
	}
	code, out, _ = runCmd(t, map[string]string{"GATEHOUSE_CLIENT_BASIC_USER": "ci"}, "goauth", "--config", conf)
	if code != 0 || out != "https://gatehouse.corp.example\n\nAuthorization: Basic Y2k6dG9rLWFiYw==\n\n" {
		t.Errorf("basic: %d %q", code, out)
	}
}

func TestGoAuthErrors(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok-abc"), 0o600)
	for _, tc := range []struct {
		args []string
		want string
		code int
	}{
		{[]string{"goauth", "--upstream", "http://gatehouse.example", "--token-file", tokenFile}, "only over https", 2},
		{[]string{"goauth", "--upstream", "https://gatehouse.example"}, "no token source", 1},
		{[]string{"goauth", "--upstream", "https://gatehouse.example", "--token-file", tokenFile + ".gone"}, "no such file", 1},
		{[]string{"goauth", "--upstream", "https://gatehouse.example", "--token-file", tokenFile, "a", "b"}, "unexpected argument", 2},
	} {
		code, out, errOut := runCmd(t, nil, tc.args...)
		if code != tc.code || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %d and %q", tc.args, code, out, errOut, tc.code, tc.want)
		}
	}
}

// serve's environment variables do not configure the client commands: a
// GATEHOUSE_UPSTREAM meant for serve must not become the place goauth
// hands credentials to.
func TestClientCommandsIgnoreServeEnvironment(t *testing.T) {
	tokenFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(tokenFile, []byte("tok-abc"), 0o600)
	code, out, _ := runCmd(t, map[string]string{"GATEHOUSE_UPSTREAM": "https://proxy.public.example"},
		"goauth", "--token-file", tokenFile, "https://proxy.public.example/x")
	if code == 0 || strings.Contains(out, "tok-abc") {
		t.Errorf("goauth took serve's GATEHOUSE_UPSTREAM: %d %q", code, out)
	}
	code, out, _ = runCmd(t, map[string]string{"GATEHOUSE_CLIENT_UPSTREAM": "https://gatehouse.corp.example"},
		"goauth", "--token-file", tokenFile, "https://gatehouse.corp.example/x")
	if code != 0 || !strings.Contains(out, "Authorization: Bearer tok-abc") {
		t.Errorf("GATEHOUSE_CLIENT_UPSTREAM: %d %q", code, out)
	}
}
