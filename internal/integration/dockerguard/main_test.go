package dockerguard

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// Set up once per test binary by TestMain.
var (
	gatehouseBin string
	dockerBin    string
	engine       *dockerd // nil when dockerd or docker is missing
	setupErr     error    // why engine is nil
	imageTar     string   // busybox rootfs as a tar, for docker import
)

const image = "gh-busybox:latest"

func TestMain(m *testing.M) {
	code := run(m)
	os.Exit(code)
}

func run(m *testing.M) int {
	tmp, err := os.MkdirTemp("", "gh-dockerguard-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(tmp)
	gatehouseBin = filepath.Join(tmp, "gatehouse")
	args := []string{"build", "-o", gatehouseBin}
	if raceEnabled {
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "github.com/gatehouse-dev/gatehouse/cmd/gatehouse")...)
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gatehouse: %v\n%s", err, out)
		return 1
	}
	engine, setupErr = startDockerd(filepath.Join(tmp, "d"))
	if engine != nil {
		defer engine.stop()
	}
	return m.Run()
}

// requireEngine returns the test dockerd, or fails (under make test) or
// skips the test when it could not be started.
func requireEngine(t testing.TB) *dockerd {
	t.Helper()
	if engine == nil {
		if testutil.Strict() {
			t.Fatalf("no Docker engine for the test: %v (make test-deps installs docker.io and busybox-static)", setupErr)
		}
		t.Skipf("no Docker engine: %v", setupErr)
	}
	return engine
}

// dockerd is the test's own Docker engine: its own socket, data and exec
// roots under a temp dir, no iptables, no bridge, the vfs storage driver.
type dockerd struct {
	dir    string
	socket string
	cmd    *exec.Cmd
	logs   *bytes.Buffer
	done   chan struct{}
}

func startDockerd(dir string) (*dockerd, error) {
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		return nil, errors.New("dockerd not found")
	}
	if dockerBin, err = exec.LookPath("docker"); err != nil {
		return nil, errors.New("docker CLI not found")
	}
	if _, err := os.Stat("/bin/busybox"); err != nil {
		return nil, errors.New("/bin/busybox not found")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	d := &dockerd{dir: dir, socket: filepath.Join(dir, "docker.sock"), logs: &bytes.Buffer{}, done: make(chan struct{})}
	d.cmd = exec.Command(bin,
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
		"--host=unix://"+d.socket, "--data-root="+filepath.Join(dir, "data"),
		"--exec-root="+filepath.Join(dir, "exec"), "--pidfile="+filepath.Join(dir, "docker.pid"),
		"--log-level=warn")
	d.cmd.Stdout, d.cmd.Stderr = d.logs, d.logs
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := d.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { d.cmd.Wait(); close(d.done) }()
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.socket)
	}}}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get("http://docker/_ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		select {
		case <-d.done:
			return nil, fmt.Errorf("dockerd exited at start:\n%s", d.logs)
		default:
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, fmt.Errorf("dockerd did not answer within 60s:\n%s", d.logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	imageTar = filepath.Join(dir, "busybox.tar")
	if err := writeBusyboxTar(imageTar); err != nil {
		d.stop()
		return nil, err
	}
	out, err := exec.Command(dockerBin, "--host", "unix://"+d.socket, "import", imageTar, image).CombinedOutput()
	if err != nil {
		d.stop()
		return nil, fmt.Errorf("docker import: %v\n%s", err, out)
	}
	return d, nil
}

// stop ends dockerd by its PID (it stops its containerd), and containerd by
// its PID if dockerd had to be killed.
func (d *dockerd) stop() {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(30 * time.Second):
		d.cmd.Process.Kill()
		<-d.done
		if b, err := os.ReadFile(filepath.Join(d.dir, "exec", "containerd", "containerd.pid")); err == nil {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// writeBusyboxTar writes a root filesystem with Debian's static busybox and
// the applets the tests use.
func writeBusyboxTar(name string) error {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range []string{"bin/", "tmp/", "etc/", "proc/", "sys/", "dev/"} {
		tw.WriteHeader(&tar.Header{Name: d, Typeflag: tar.TypeDir, Mode: 0o755})
	}
	tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))})
	tw.Write(bb)
	for _, app := range []string{"sh", "echo", "sleep", "cat", "ls", "id", "true", "wc", "head"} {
		tw.WriteHeader(&tar.Header{Name: "bin/" + app, Typeflag: tar.TypeSymlink, Linkname: "busybox"})
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(name, buf.Bytes(), 0o644)
}
