package dockerguard

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// The container image, built by `make image` against the test's own
// dockerd. make image builds only the Dockerfile's final stage (FROM
// scratch) from a binary built on this host: the build stage needs the
// golang image from a registry, and no registry is reachable here, so the
// build stage itself is not tested. dockerd runs with --bridge=none, so
// the container shares the host's network (--network host) to reach the
// test upstream on loopback, and is reached there itself.
func TestImage(t *testing.T) {
	d := requireEngine(t)
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	const tag = "gatehouse:dev"
	dockerEnv := append(os.Environ(), "DOCKER_HOST=unix://"+d.socket)
	docker := func(args ...string) (string, error) {
		cmd := exec.Command(dockerBin, args...)
		cmd.Env = dockerEnv
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	mustDocker := func(args ...string) string {
		t.Helper()
		out, err := docker(args...)
		if err != nil {
			t.Fatalf("docker %v: %v\n%s", args, err, out)
		}
		return out
	}

	start := time.Now()
	mk := exec.Command("make", "-C", root, "image", "IMAGE="+tag, "IMAGE_CONTEXT="+t.TempDir(), "VERSION=v0.0.0-imagetest")
	mk.Env = dockerEnv
	if out, err := mk.CombinedOutput(); err != nil {
		t.Fatalf("make image: %v\n%s", err, out)
	}
	t.Logf("make image took %v", time.Since(start).Round(time.Millisecond))

	var info []struct {
		Size   int64
		Config struct {
			User        string
			Volumes     map[string]struct{}
			Entrypoint  []string
			Healthcheck struct{ Test []string }
		}
	}
	if err := json.Unmarshal([]byte(mustDocker("image", "inspect", tag)), &info); err != nil || len(info) != 1 {
		t.Fatalf("image inspect: %v", err)
	}
	img := info[0]
	t.Logf("image size %d bytes (%.1f MB)", img.Size, float64(img.Size)/1e6)
	if img.Size > 25e6 {
		t.Errorf("image is %d bytes, more than 25 MB", img.Size)
	}
	if u := img.Config.User; u == "" || u == "0" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root") {
		t.Errorf("image runs as %q, want a non-root uid", u)
	}
	if _, ok := img.Config.Volumes["/data"]; !ok {
		t.Errorf("no /data volume: %v", img.Config.Volumes)
	}
	if hc := strings.Join(img.Config.Healthcheck.Test, " "); hc != "CMD /gatehouse healthcheck" {
		t.Errorf("healthcheck %q", hc)
	}

	// One image runs every command.
	if out := mustDocker("run", "--rm", tag, "version"); !strings.HasPrefix(out, "gatehouse v0.0.0-imagetest ") {
		t.Errorf("version in the image: %q", out)
	}
	for _, c := range []string{"serve", "sidecar", "docker", "healthcheck"} {
		if out := mustDocker("run", "--rm", tag, c, "--help"); !strings.Contains(out, "Usage: gatehouse "+c) {
			t.Errorf("%s --help in the image: %q", c, out)
		}
	}

	up := testproxy.New(t)
	port := freePort(t)
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	vol := "gh-image-test-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	mustDocker("volume", "create", vol)
	t.Cleanup(func() { docker("volume", "rm", "-f", vol) })
	ctr := mustDocker("run", "-d", "--read-only", "--network", "host", "-v", vol+":/data", tag,
		"serve", "--listen", "127.0.0.1:"+strconv.Itoa(port), "--upstream", up.URL, "--sumdb", up.GOSUMDB())
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := docker("logs", ctr)
			t.Logf("container log:\n%s", out)
		}
		docker("rm", "-f", ctr)
	})
	waitHealthy(t, url)
	// The image's own health check, run as Docker runs it.
	if out, err := docker("run", "--rm", "--network", "host", "-e", "GATEHOUSE_HEALTHCHECK_URL="+url+"/healthz", tag, "healthcheck"); err != nil || out != "healthy" {
		t.Errorf("healthcheck in the image: %v %q", err, out)
	}

	goEnv := func() []string {
		return testutil.GoEnv(t, "GOPROXY="+url, "GOSUMDB="+up.GOSUMDB())
	}
	testutil.MustGo(t, t.TempDir(), goEnv(), "mod", "download", "example.com/hello@v1.0.0")
	fetched := up.Count("/example.com/hello/@v/v1.0.0.zip")
	if fetched != 1 {
		t.Fatalf("upstream served the zip %d times, want 1", fetched)
	}

	// Restarted, it serves from its store on the volume: the upstream is
	// not asked again for the zip.
	mustDocker("restart", "-t", "10", ctr)
	waitHealthy(t, url)
	testutil.MustGo(t, t.TempDir(), goEnv(), "mod", "download", "example.com/hello@v1.0.0")
	if n := up.Count("/example.com/hello/@v/v1.0.0.zip"); n != fetched {
		t.Errorf("after a restart the upstream served the zip again (%d times): the store did not survive", n)
	}

	var st []struct {
		HostConfig struct{ ReadonlyRootfs bool }
		Config     struct{ User string }
	}
	json.Unmarshal([]byte(mustDocker("inspect", ctr)), &st)
	if len(st) != 1 || !st[0].HostConfig.ReadonlyRootfs {
		t.Errorf("container root is not read-only: %+v", st)
	}
	// The store's files belong to the image's user, not root.
	tr := tar.NewReader(bytes.NewReader([]byte(mustDockerRaw(t, dockerEnv, "cp", ctr+":/data/example.com/hello/@v/v1.0.0.zip", "-"))))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatalf("docker cp of the stored zip: %v", err)
	}
	if hdr.Uid == 0 || strconv.Itoa(hdr.Uid)+":"+strconv.Itoa(hdr.Gid) != img.Config.User {
		t.Errorf("stored zip owned by %d:%d, image user %q", hdr.Uid, hdr.Gid, img.Config.User)
	}
	// Outside the volume the root file system refuses writes.
	out, err := docker("run", "--rm", "--read-only", tag, "serve", "--data", "/elsewhere")
	if err == nil || !strings.Contains(out, "read-only file system") {
		t.Errorf("serve with its data on the read-only root: %v %q", err, out)
	}
}

// mustDockerRaw runs docker and returns its stdout byte for byte (a tar).
func mustDockerRaw(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(dockerBin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("docker %v: %v\n%s", args, err, stderr.String())
	}
	return string(out)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func waitHealthy(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("gatehouse in the container did not answer %s/healthz: %v", url, err)
		}
	}
}
