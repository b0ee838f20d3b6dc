package config

import (
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func load(t *testing.T, file string, env map[string]string, args ...string) (*Serve, error) {
	t.Helper()
	cfg := DefaultServe()
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	keys := cfg.Keys()
	cf := Bind(fs, keys)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *cf == "" {
		*cf = file
	}
	if err := Load(fs, keys, *cf, cfg, func(k string) string { return env[k] }); err != nil {
		return nil, err
	}
	return cfg, cfg.Validate()
}

func writeConfig(t *testing.T, text string) string {
	p := filepath.Join(t.TempDir(), "gatehouse.toml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	cfg, err := load(t, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:3000" || cfg.Data != "./gatehouse-data" || cfg.Upstream != "https://proxy.golang.org" || cfg.SumDB != "sum.golang.org" {
		t.Errorf("defaults: %+v", cfg)
	}
}

// Flags beat the environment, which beats the file, which beats defaults.
func TestPrecedence(t *testing.T) {
	file := writeConfig(t, `
listen = "127.0.0.1:1111"
data = "/from/file"
upstream = "https://file.example"
upstream_timeout = "45s"
nosumdb = ["corp.example.com", "*.internal.example"]
`)
	env := map[string]string{"GATEHOUSE_DATA": "/from/env", "GATEHOUSE_UPSTREAM": "https://env.example"}
	cfg, err := load(t, "", env, "--config", file, "--upstream", "https://flag.example")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:1111" {
		t.Errorf("listen from file: %q", cfg.Listen)
	}
	if cfg.Data != "/from/env" {
		t.Errorf("data: env should beat file: %q", cfg.Data)
	}
	if cfg.Upstream != "https://flag.example" {
		t.Errorf("upstream: flag should beat env: %q", cfg.Upstream)
	}
	if time.Duration(cfg.UpstreamTimeout) != 45*time.Second {
		t.Errorf("upstream_timeout: %v", cfg.UpstreamTimeout)
	}
	if strings.Join(cfg.NoSumDB, ",") != "corp.example.com,*.internal.example" {
		t.Errorf("nosumdb: %v", cfg.NoSumDB)
	}
	cfg, err = load(t, "", map[string]string{"GATEHOUSE_CONFIG": file})
	if err != nil || cfg.Listen != "127.0.0.1:1111" {
		t.Errorf("GATEHOUSE_CONFIG: %v %v", cfg, err)
	}
}

func TestErrorsNameTheKey(t *testing.T) {
	tests := []struct {
		name string
		file string
		env  map[string]string
		args []string
		want string
	}{
		{"unknown key", "lisen = \"x\"\n", nil, nil, "config: lisen"},
		{"syntax", "listen = \n", nil, nil, ":1:"},
		{"bad listen", "", nil, []string{"--listen", "nope"}, "config: listen"},
		{"bad duration in file", "upstream_timeout = \"soon\"\n", nil, nil, "soon"},
		{"bad duration in env", "", map[string]string{"GATEHOUSE_UPSTREAM_TIMEOUT": "soon"}, nil, "GATEHOUSE_UPSTREAM_TIMEOUT"},
		{"bad upstream", "", nil, []string{"--upstream", "ftp://x"}, "config: upstream"},
		{"direct upstream", "", nil, []string{"--upstream", "https://a,direct"}, "direct"},
		{"sumdb without key", "", nil, []string{"--sumdb", "sum.example.com"}, "config: sumdb"},
		{"zip size", "", nil, []string{"--max-zip-size", "600000000"}, "config: max-zip-size"},
		{"log format", "", nil, []string{"--log-format", "xml"}, "config: log-format"},
		{"missing file", "", nil, []string{"--config", "/nonexistent/gatehouse.toml"}, "config"},
		{"bad pattern", "", nil, []string{"--nosumdb", "/abs"}, "config: nosumdb"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := ""
			if tt.file != "" {
				file = writeConfig(t, tt.file)
			}
			_, err := load(t, file, tt.env, tt.args...)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line containing %q", err, tt.want)
			}
			var ce *Error
			if strings.HasPrefix(tt.want, "config: ") && !errors.As(err, &ce) {
				t.Errorf("error %T is not a *config.Error", err)
			}
		})
	}
}

// A repeated list flag adds to the list; the flag still replaces what the
// file or environment gave.
func TestRepeatedListFlag(t *testing.T) {
	file := writeConfig(t, `nosumdb = ["from.file"]`)
	cfg, err := load(t, "", nil, "--config", file, "--nosumdb", "a.example", "--nosumdb", "b.example,c.example")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.NoSumDB, " "); got != "a.example b.example c.example" {
		t.Errorf("nosumdb = %q", got)
	}
}

// A value the TOML parser cannot read is often a secret someone forgot to
// quote; its error goes to stderr at start and to the log on a reload, so
// it names the line but not the value.
func TestParseErrorsDoNotEchoValues(t *testing.T) {
	for text, secret := range map[string]string{
		"[[private_netrc]]\nmachine = \"git.corp.example\"\nlogin = \"ci\"\npassword = correctHorseBattery\n": "Horse",
		"[[private_netrc]]\nmachine = \"git.corp.example\"\npassword = 9876_staple\n":                         "9876",
		"own_sumdb_key = PRIVATE+KEY+corp\n":                                                                  "PRIVATE",
	} {
		_, err := load(t, writeConfig(t, text), nil)
		if err == nil {
			t.Fatalf("%q loaded", text)
		}
		if strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), ".toml:") {
			t.Errorf("%q: %v; want the line, not the value", text, err)
		}
	}
}
