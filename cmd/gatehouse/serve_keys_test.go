package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
)

// badServeValues has, for every key of serve, values that must be refused
// at start. A new key without an entry fails TestEveryServeKeyRefusesBadValues,
// so each setting gets its bad-input check written down.
var badServeValues = map[string][]string{
	"listen":                        {"nope", "127.0.0.1:99999"},
	"data":                          {""},
	"upstream":                      {"", "ftp://x", "https://a,direct"},
	"sumdb":                         {"", "sum.example.com"},
	"sumdb-url":                     {"::nope", "ftp://x"},
	"nosumdb":                       {"/abs"},
	"upstream-timeout":              {"soon", "0s", "-1s"},
	"max-upstream-fetches":          {"x", "0", "-1"},
	"max-zip-size":                  {"x", "0", "600000000"},
	"log-format":                    {"xml"},
	"log-level":                     {"loud"},
	"shutdown-timeout":              {"soon", "-1s"},
	"write-timeout":                 {"never", "-5s"},
	"policy":                        {"@missing", "@garbage"},
	"policy-poll":                   {"soon", "-1s"},
	"module-index":                  {"", "ftp://x", "file:///tmp/index", "index.golang.org"},
	"min-age-fallback":              {"", "now", "commit-time"},
	"metrics-listen":                {"nope", "127.0.0.1:99999", "127.0.0.1:http-nope"},
	"pprof-listen":                  {"nope", "127.0.0.1:99999", "localhost"},
	"list-ttl":                      {"soon", "-1s"},
	"list-max-stale":                {"soon", "-1s"},
	"prefetch-workers":              {"x", "-1", "1001"},
	"private":                       {"/abs"},
	"private-hosts":                 {"nodot", "a.example:x"},
	"private-timeout":               {"soon", "0s"},
	"private-fetches":               {"0", "1000"},
	"private-fetches-per-identity":  {"x", "-1", "5"},
	"private-queue-per-identity":    {"x", "0"},
	"private-not-found-ttl":         {"soon", "-1s"},
	"private-list-ttl":              {"soon", "-1s"},
	"private-ssh-key":               {"@missing"},
	"private-ssh-known-hosts":       {"@missing"},
	"private-git-credential-helper": {"a\nb"},
	"own-sumdb":                     {"", "has space", "sum.golang.org"},
	"own-sumdb-key":                 {"@garbage"},
	"tls-cert":                      {"@missing"},
	"tls-key":                       {"@missing"},
	"client-ca":                     {"@missing"},
	"allow-anonymous":               {"maybe"},
	"offline":                       {"maybe"},
	"allowed-networks":              {"notacidr"},
	"trusted-proxies":               {"notacidr"},
	"rate-limit":                    {"x", "-1"},
	"rate-burst":                    {"x", "-1"},
	"deny-status":                   {"500"},
	"audit-file":                    {"@missing"},
	"audit-max-size":                {"x", "-1"},
	"audit-max-files":               {"x", "-1"},
	"audit-stdout":                  {"maybe"},
	"audit-key-file":                {"@missing", "@garbage"},
	"replica-id":                    {"", "a b", "a/b", "-a", "r\"1", strings.Repeat("x", 65)},
}

// Every serve key with a bad value: exit 2 and one line naming the key,
// before anything listens.
func TestEveryServeKeyRefusesBadValues(t *testing.T) {
	for _, k := range config.DefaultServe().Keys() {
		vals, ok := badServeValues[k.Name]
		if !ok {
			t.Errorf("key %q has no bad values in badServeValues", k.Name)
			continue
		}
		for _, v := range vals {
			var extra []string
			switch v {
			case "@missing": // a file in a directory that does not exist
				v = filepath.Join(t.TempDir(), "missing", "file")
			case "@garbage": // a file that is not what the key wants
				v = filepath.Join(t.TempDir(), "garbage")
				if err := os.WriteFile(v, []byte("[[[ not this\x00\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if k.Name == "tls-cert" || k.Name == "tls-key" {
				// Both are needed; the other one is fine.
				pair := filepath.Join(t.TempDir(), "pair.pem")
				os.WriteFile(pair, []byte("not PEM\n"), 0o600)
				extra = []string{"--tls-cert=" + pair, "--tls-key=" + pair}
			}
			if k.Name == "audit-key-file" {
				// With a log to seal, so the key file itself is what fails.
				extra = []string{"--audit-file=" + filepath.Join(t.TempDir(), "audit.log")}
			}
			args := append([]string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0"}, extra...)
			args = append(args, "--"+k.Name+"="+v)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var out, errb bytes.Buffer
			e := &cmdEnv{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(string) string { return "" }}
			code := runMain(ctx, e, args)
			cancel()
			// Info lines may come first (serve logs its own checksum log's
			// key before the policy is read); the error is the last line.
			lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
			msg := lines[len(lines)-1]
			if code != 2 || !strings.HasPrefix(msg, "gatehouse serve: ") || !strings.Contains(msg, k.Name) {
				t.Errorf("--%s=%q: exit %d, want 2 and one line naming the key; got %q", k.Name, v, code, msg)
			}
		}
	}
}

// The keys a reload puts in force are keys of serve (a renamed key would
// otherwise turn silently into a restart-only one), and a change to any
// other key is named as needing a restart.
func TestReloadableKeys(t *testing.T) {
	names := map[string]bool{}
	for _, k := range config.DefaultServe().Keys() {
		names[k.Name] = true
	}
	for name := range reloadable {
		if !names[name] {
			t.Errorf("reloadable key %q is not a serve key", name)
		}
	}
	old, cfg := config.DefaultServe(), config.DefaultServe()
	cfg.RateLimit, cfg.DenyStatus = 7, 403
	cfg.Upstream, cfg.Listen = "https://other.example", "127.0.0.1:9"
	if got := strings.Join(restartOnlyChanges(old, cfg), ","); got != "listen,upstream" {
		t.Errorf("restart-only changes: %q, want listen,upstream", got)
	}
}
