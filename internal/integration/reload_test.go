package integration

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/testpki"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// SIGHUP puts new credentials and access rules in force without a
// restart: a revoked token stops working at once, a new one works, a
// changed rule hides a module, requests under way are not dropped, and a
// configuration that does not load is refused with the old one kept.
func TestReloadCredentialsAndRules(t *testing.T) {
	up := testproxy.New(t)
	dir := t.TempDir()
	ca := testpki.NewCA(t, "reload CA")
	caFile := ca.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := ca.Server(t).WriteFiles(t, dir, "server")
	tokens, hashes := map[string]string{}, map[string]string{}
	for _, name := range []string{"revoked", "fresh", "steady"} {
		tok, hash, err := auth.NewToken()
		if err != nil {
			t.Fatal(err)
		}
		tokens[name], hashes[name] = tok, hash
	}
	entry := func(name, group string) string {
		return fmt.Sprintf("[[token]]\nname = %q\nhash = %q\ngroups = [%q]\n", name, hashes[name], group)
	}
	cfgFile := filepath.Join(dir, "gatehouse.toml")
	write := func(body string) {
		t.Helper()
		head := fmt.Sprintf("tls_cert = %q\ntls_key = %q\n", certFile, keyFile)
		if err := os.WriteFile(cfgFile, []byte(head+body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	everything := "[[access]]\nmodules = [\"**\"]\ngroups = [\"*\"]\n"
	write(entry("revoked", "build") + entry("steady", "build") + everything)
	p := serveTestUpstream(t, up, "--config", cfgFile)
	p.URL = "https://" + strings.TrimPrefix(p.URL, "http://")

	goWith := func(token string, args ...string) (string, error) {
		netrc := filepath.Join(t.TempDir(), "netrc")
		os.WriteFile(netrc, fmt.Appendf(nil, "machine %s login x password %s\n", strings.TrimPrefix(p.URL, "https://"), token), 0o600)
		return testutil.Go(t, t.TempDir(), goEnv(t, p, up, "SSL_CERT_FILE="+caFile, "NETRC="+netrc), args...)
	}
	if out, err := goWith(tokens["revoked"], "mod", "download", "example.com/hello@v1.0.0"); err != nil {
		t.Fatalf("before the reload: %v\n%s", err, out)
	}
	hup := func(want string, n int) {
		t.Helper()
		p.cmd.Process.Signal(syscall.SIGHUP)
		for deadline := time.Now().Add(10 * time.Second); strings.Count(p.Logs(), want) < n; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q (%d) after SIGHUP:\n%s", want, n, p.Logs())
			}
		}
	}

	// A client with a token that both configurations hold keeps fetching
	// while the reload happens: every answer must be a 200.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}}}
	var stop atomic.Bool
	var ok, bad atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				req, _ := http.NewRequest("GET", p.URL+"/example.com/hello/@v/list", nil)
				req.Header.Set("Authorization", "Bearer "+tokens["steady"])
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != 200 {
					bad.Add(1)
				} else {
					ok.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		})
	}

	// Revoke one token, add another for a group that may not see greet,
	// and change a setting that needs a restart.
	write("upstream_timeout = \"17s\"\n" + entry("fresh", "web") + entry("steady", "build") +
		"[[access]]\nmodules = [\"example.com/greet/**\"]\ngroups = [\"build\"]\n" + everything)
	time.Sleep(100 * time.Millisecond)
	hup("access configuration reloaded", 1)
	time.Sleep(100 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	if bad.Load() != 0 || ok.Load() == 0 {
		t.Errorf("during the reload: %d answers were not 200, %d were", bad.Load(), ok.Load())
	}
	if !p.LogsContain("take effect only at restart") || !strings.Contains(p.Logs(), "keys=upstream-timeout") {
		t.Errorf("the restart-only change was not named:\n%s", p.Logs())
	}

	if out, err := goWith(tokens["revoked"], "mod", "download", "example.com/greet@v1.1.0"); err == nil || !strings.Contains(out, "authentication failed") {
		t.Errorf("revoked token after the reload: err=%v\n%s", err, out)
	}
	if out, err := goWith(tokens["fresh"], "mod", "download", "example.com/hello/v2@v2.0.0"); err != nil {
		t.Errorf("new token after the reload: %v\n%s", err, out)
	}
	if out, err := goWith(tokens["fresh"], "mod", "download", "example.com/greet@v1.1.0"); err == nil || !strings.Contains(out, "404 Not Found") {
		t.Errorf("the new rule does not hide greet from web: err=%v\n%s", err, out)
	}

	// A broken file is refused; what is in force stays in force.
	write("[[token]]\nname = \"x\"\nhash = \"not-a-hash\"\n")
	hup("config reload refused", 1)
	if out, err := goWith(tokens["fresh"], "mod", "download", "example.com/hello@v1.0.0"); err != nil {
		t.Errorf("after a refused reload, the new token: %v\n%s", err, out)
	}
	if out, err := goWith(tokens["revoked"], "mod", "download", "example.com/hello@v1.0.0"); err == nil {
		t.Errorf("after a refused reload, the revoked token works again:\n%s", out)
	}
	for _, tok := range tokens {
		if strings.Contains(p.Logs(), tok) {
			t.Error("a token is in the log")
		}
	}
}

// A SIGHUP while serve or docker is still starting (systemctl reload
// right after start, or a slow key file) is not fatal: both catch it from
// their first step. A named pipe as the audit key file holds each of them
// mid-start.
func TestHangupDuringStartIsNotFatal(t *testing.T) {
	for _, c := range []struct {
		name, ready string
		args        func(dir string) []string
	}{
		{"serve", "gatehouse serving", func(dir string) []string {
			return []string{"serve", "--listen", "127.0.0.1:0", "--data", t.TempDir()}
		}},
		{"docker", "gatehouse docker listening", func(dir string) []string {
			return []string{"docker", "--listen", "unix://" + filepath.Join(dir, "guard.sock"), "--socket", filepath.Join(dir, "no-dockerd.sock")}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			key := filepath.Join(dir, "audit.key")
			if err := syscall.Mkfifo(key, 0o600); err != nil {
				t.Fatal(err)
			}
			var logs testutil.Buffer
			cmd := exec.Command(gatehouseBin, append(c.args(dir), "--audit-file", filepath.Join(dir, "audit.log"), "--audit-key-file", key)...)
			cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
			cmd.Stderr = &logs
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			defer func() {
				cmd.Process.Signal(syscall.SIGTERM)
				select {
				case <-exited:
				case <-time.After(30 * time.Second):
					cmd.Process.Kill()
					<-exited
				}
			}()
			// Opening the pipe for writing returns once the command has
			// opened it to read the key: it is mid-start.
			w, err := os.OpenFile(key, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			cmd.Process.Signal(syscall.SIGHUP)
			time.Sleep(200 * time.Millisecond)
			fmt.Fprintln(w, strings.Repeat("k", 64))
			w.Close()
			for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), c.ready); time.Sleep(20 * time.Millisecond) {
				select {
				case err := <-exited:
					exited <- err
					t.Fatalf("%s died of a SIGHUP during start: %v\n%s", c.name, err, logs.String())
				default:
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s did not start:\n%s", c.name, logs.String())
				}
			}
		})
	}
}
