package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPrivateFromFile(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "token")
	os.WriteFile(pwFile, []byte("tok3n\n"), 0o600)
	file := writeConfig(t, `
private = ["git.corp.example/*", "*.internal.example"]
private_hosts = ["git.corp.example", "*.internal.example", "code.example:8443"]
private_fetches = 2
own_sumdb = "sum.corp.example"

[[private_netrc]]
machine = "git.corp.example"
login = "deploy"
password = "s3cret"

[[private_netrc]]
machine = "code.example"
login = "ci"
password_file = "`+pwFile+`"
`)
	cfg, err := load(t, file, map[string]string{"GATEHOUSE_PRIVATE_TIMEOUT": "90s"})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Private.Private, ",") != "git.corp.example/*,*.internal.example" || cfg.PrivateFetches != 2 ||
		cfg.OwnSumDB != "sum.corp.example" || cfg.PrivateTimeout.String() != "1m30s" || len(cfg.PrivateNetrc) != 2 {
		t.Fatalf("private settings: %+v", cfg.Private)
	}
	if pw, err := cfg.PrivateNetrc[1].NetrcPassword(); err != nil || pw != "tok3n" {
		t.Errorf("password_file: %q %v", pw, err)
	}
	if s := cfg.PrivateNetrc[0].String(); strings.Contains(s, "s3cret") {
		t.Errorf("NetrcEntry prints its password: %s", s)
	}
}

func TestPrivateHostsDefault(t *testing.T) {
	cfg, err := load(t, "", nil, "--private", "git.corp.example/team,*.internal.example,code.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.PrivateHostList(), ","); got != "git.corp.example,code.example" {
		t.Errorf("default hosts = %s", got)
	}
}

func TestPrivateErrors(t *testing.T) {
	for _, tt := range []struct {
		file, key string
		args      []string
	}{
		{"", "private-hosts", []string{"--private", "*.internal.example"}},
		{"", "private-hosts", []string{"--private", "x.example", "--private-hosts", "http://x.example/"}},
		{"", "private-hosts", []string{"--private", "x.example", "--private-hosts", "x.example:abc"}},
		{"", "private", []string{"--private", "/abs"}},
		{"", "private-fetches", []string{"--private-fetches", "0"}},
		{"", "private-ssh-known-hosts", []string{"--private-ssh-key", "/etc/passwd"}},
		{"", "own-sumdb", []string{"--own-sumdb", "a+b"}},
		{"[[private_netrc]]\nmachine = \"x.example\"\nlogin = \"a\"\n", "private_netrc[0]", nil},
		{"[[private_netrc]]\nmachine = \"x.example\"\nlogin = \"a\"\npassword = \"has space\"\n", "private_netrc[0]", nil},
		{"[[private_netrc]]\nmachine = \"x.example\"\nlogin = \"a\"\npassword_file = \"/nonexistent\"\n", "private_netrc[0]", nil},
	} {
		file := ""
		if tt.file != "" {
			file = writeConfig(t, tt.file)
		}
		_, err := load(t, file, nil, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%v %q: err = %v, want one naming %s", tt.args, tt.file, err, tt.key)
		}
		if err != nil && strings.Contains(err.Error(), "has space") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}
