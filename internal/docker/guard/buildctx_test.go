package guard

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
)

// A build context refused while it streams reaches the daemon cut off: the
// daemon's read of the body ends in an error, never in a clean end it could
// build from, and the client gets a 403 naming the rule, audited as a deny.
// A recording server stands in for dockerd, which does not tell how its
// read ended; the end-to-end tests run builds against the real one.
func TestBuildContextCutOff(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	type read struct {
		n   int
		err error
	}
	reads := make(chan read, 4)
	daemon := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		reads <- read{int(n), err}
		w.WriteHeader(http.StatusOK)
	})}
	go daemon.Serve(ln)
	t.Cleanup(func() { daemon.Close() })

	uid := os.Getuid()
	ci, _ := rules.Preset("ci")
	sink := &recorder{}
	g, err := New(Options{Socket: sock, Audit: sink, Clients: []Client{{UID: &uid, Profile: ci}}})
	if err != nil {
		t.Fatal(err)
	}
	c := serveUnix(t, g)

	context := func(dockerfile string) []byte {
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		filler := bytes.Repeat([]byte("context filler\n"), 70000) // 1 MiB, before the Dockerfile
		tw.WriteHeader(&tar.Header{Name: "big", Mode: 0o644, Size: int64(len(filler))})
		tw.Write(filler)
		tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(dockerfile))})
		tw.Write([]byte(dockerfile))
		tw.Close()
		return buf.Bytes()
	}
	for _, chunked := range []bool{false, true} {
		bad := context("FROM busybox\nADD http://127.0.0.1:1/secret /s\n")
		var body io.Reader = bytes.NewReader(bad)
		if chunked {
			body = io.MultiReader(body)
		}
		req, _ := http.NewRequest("POST", "http://docker/v1.41/build?t=x", body)
		req.Header.Set("Content-Type", "application/x-tar")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 403 || !strings.Contains(string(msg), "(rule no-remote-fetch)") {
			t.Errorf("chunked=%v: %d %s", chunked, resp.StatusCode, msg)
		}
		got := <-reads
		t.Logf("chunked=%v: the daemon read %d of %d bytes: %v", chunked, got.n, len(bad), got.err)
		if got.err == nil || errors.Is(got.err, io.EOF) || got.n >= len(bad)-1024 {
			t.Errorf("chunked=%v: the daemon read %d of %d bytes, ending with %v; want a cut-off before the end of the archive", chunked, got.n, len(bad), got.err)
		}
		if rec := sink.last(); rec.Decision != "deny" || rec.Rule != "no-remote-fetch" || rec.Status != 403 {
			t.Errorf("chunked=%v: audit %+v", chunked, rec)
		}
	}
	// An allowed context reaches the daemon whole.
	good := context("FROM busybox\nRUN true\n")
	req, _ := http.NewRequest("POST", "http://docker/v1.41/build", bytes.NewReader(good))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := <-reads; resp.StatusCode != 200 || got.err != nil || got.n != len(good) {
		t.Errorf("allowed context: status %d, daemon read %d of %d bytes (%v)", resp.StatusCode, got.n, len(good), got.err)
	}
}
