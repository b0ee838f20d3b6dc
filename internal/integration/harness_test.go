package integration

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

var gatehouseBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatehouseBin = filepath.Join(dir, "gatehouse")
	args := []string{"build", "-o", gatehouseBin}
	if testing.Testing() && raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gatehouse: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running gatehouse serve.
type proc struct {
	URL  string
	Data string
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
}

var listenRE = regexp.MustCompile(`listen=(\S+)`)

// startServe runs gatehouse serve on a free loopback port with args added.
func startServe(t *testing.T, data string, args ...string) *proc {
	t.Helper()
	return startServeEnv(t, data, nil, args...)
}

// startServeEnv is startServe with env added to gatehouse's environment.
func startServeEnv(t *testing.T, data string, env []string, args ...string) *proc {
	t.Helper()
	if data == "" {
		data = t.TempDir()
	}
	p := startProc(t, "gatehouse serving", env, append([]string{"serve", "--listen", "127.0.0.1:0", "--data", data}, args...)...)
	p.Data = data
	return p
}

// startProc runs the gatehouse binary with args and env, collects its log,
// and waits for the start line holding ready and listen=<addr>.
func startProc(t *testing.T, ready string, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(gatehouseBin, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.logs.WriteString(line + "\n")
			p.mu.Unlock()
			if m := listenRE.FindStringSubmatch(line); m != nil && strings.Contains(line, ready) {
				addr <- m[1]
			}
		}
		io.Copy(io.Discard, stderr)
	}()
	go func() { cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.stop(t)
		if t.Failed() {
			t.Logf("%s log:\n%s", args[0], p.Logs())
		}
	})
	select {
	case a := <-addr:
		p.URL = "http://" + a
	case <-p.done:
		t.Fatalf("%s exited at start:\n%s", args[0], p.Logs())
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not start:\n%s", args[0], p.Logs())
	}
	return p
}

// Logs returns everything the process logged so far.
func (p *proc) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// LogsContain waits up to 5s for s to appear in the logs: the server
// writes its log line before it answers, but the pipe reader may not have
// caught up by the time the client has its answer.
func (p *proc) LogsContain(s string) bool {
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if strings.Contains(p.Logs(), s) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop(t *testing.T) int {
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
		t.Errorf("gatehouse did not stop on SIGTERM")
	}
	if strings.Contains(p.Logs(), "DATA RACE") {
		t.Errorf("race detected in gatehouse:\n%s", p.Logs())
	}
	return p.cmd.ProcessState.ExitCode()
}

// serveTestUpstream starts gatehouse in front of up, trusting up's database.
func serveTestUpstream(t *testing.T, up *testproxy.Server, args ...string) *proc {
	return startServe(t, "", append([]string{"--upstream", up.URL, "--sumdb", up.GOSUMDB()}, args...)...)
}

// project writes a small application that needs three modules, two of
// them through another's requirement.
func project(t *testing.T) string {
	dir := t.TempDir()
	testutil.WriteFiles(t, dir, map[string]string{
		// example.com/Caps has upper case, which the go command sends
		// case-escaped and percent-encoded: /example.com/%21caps/@v/...
		"go.mod": "module example.com/app\n\ngo 1.21\n\nrequire (\n\texample.com/Caps v1.0.0\n\texample.com/hello v1.0.0\n\texample.com/hello/v2 v2.0.0\n)\n",
		"main.go": `package main

import (
	_ "example.com/Caps"
	hello1 "example.com/hello"
	hello2 "example.com/hello/v2"
)

func main() { println(hello1.World(), hello2.World()) }
`,
	})
	return dir
}

// goEnv is a clean go command environment using gatehouse as its proxy and
// the test database (reached through gatehouse) for verification.
func goEnv(t *testing.T, p *proc, up *testproxy.Server, extra ...string) []string {
	return testutil.GoEnv(t, append([]string{"GOPROXY=" + p.URL, "GOSUMDB=" + up.GOSUMDB()}, extra...)...)
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}
