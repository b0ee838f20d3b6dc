package server_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
)

const bigZip = "example.com/big/@v/v1.0.0.zip"

// hitServer serves a store holding one stored 3.5 MiB "zip" (hits are not
// verified again), larger than the chunk one write deadline covers.
func hitServer(t *testing.T, writeTimeout time.Duration) (*httptest.Server, []byte) {
	t.Helper()
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 3<<20+512<<10)
	rand.Read(data)
	if err := store.Put(context.Background(), bigZip, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	cache, err := modcache.New(modcache.Options{Store: store, TempDir: t.TempDir(), Logger: quiet,
		Route: func(string) modcache.Route { return modcache.Route{Name: "public"} }})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(server.New(server.Options{Cache: cache, Logger: quiet, WriteTimeout: writeTimeout}).Handler())
	t.Cleanup(srv.Close)
	return srv, data
}

// A hit's body is the stored file, whole or in ranges, whether it goes
// out in one sendfile or in one per write deadline's chunk: the size the
// store knows stands in for ServeContent's seeks, and never skews where
// the file is read from.
func TestHitBodyIntact(t *testing.T) {
	for _, wt := range []time.Duration{0, time.Minute} {
		t.Run(fmt.Sprint("write-timeout=", wt), func(t *testing.T) {
			srv, data := hitServer(t, wt)
			get := func(rng string) (*http.Response, []byte) {
				t.Helper()
				req, _ := http.NewRequest("GET", srv.URL+"/"+bigZip, nil)
				if rng != "" {
					req.Header.Set("Range", rng)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				return resp, body
			}
			if resp, body := get(""); resp.StatusCode != 200 || !bytes.Equal(body, data) {
				t.Errorf("whole file: %d, %d bytes, equal %v", resp.StatusCode, len(body), bytes.Equal(body, data))
			}
			if resp, body := get("bytes=1048000-2600000"); resp.StatusCode != 206 || !bytes.Equal(body, data[1048000:2600001]) {
				t.Errorf("one range: %d, %d bytes", resp.StatusCode, len(body))
			}
			if resp, body := get("bytes=-100"); resp.StatusCode != 206 || !bytes.Equal(body, data[len(data)-100:]) {
				t.Errorf("suffix range: %d, %d bytes", resp.StatusCode, len(body))
			}
			resp, body := get("bytes=10-19,2097152-3200000")
			_, params, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
			mr := multipart.NewReader(bytes.NewReader(body), params["boundary"])
			for _, want := range [][]byte{data[10:20], data[2097152:3200001]} {
				p, err := mr.NextPart()
				if err != nil {
					t.Fatalf("multiple ranges: %d: %v", resp.StatusCode, err)
				}
				if got, _ := io.ReadAll(p); !bytes.Equal(got, want) {
					t.Errorf("multiple ranges: a part of %d bytes differs from the file's", len(got))
				}
			}
		})
	}
}

// A zip hit goes out with sendfile(2) through every layer of the chain
// (access log recorder, write deadlines, the sized file): strace, run on
// this test binary serving one hit, must see it.
func TestHitUsesSendfile(t *testing.T) {
	if os.Getenv("GATEHOUSE_SENDFILE_HELPER") == "1" {
		srv, data := hitServer(t, time.Minute)
		resp, err := http.Get(srv.URL + "/" + bigZip)
		if err != nil {
			t.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if n != int64(len(data)) {
			t.Fatalf("%d bytes of %d", n, len(data))
		}
		return
	}
	strace, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed")
	}
	cmd := exec.Command(strace, "-f", "-e", "trace=sendfile", os.Args[0], "-test.run=^TestHitUsesSendfile$", "-test.count=1")
	cmd.Env = append(os.Environ(), "GATEHOUSE_SENDFILE_HELPER=1")
	out, err := cmd.CombinedOutput()
	if err != nil && strings.Contains(string(out), "PTRACE") {
		t.Skipf("strace cannot trace here: %s", firstLine(string(out)))
	}
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if n := strings.Count(string(out), "sendfile("); n < 4 {
		t.Errorf("%d sendfile calls for a 3.5 MiB hit in 1 MiB chunks, want at least 4:\n%s", n, out)
	}
}

func firstLine(s string) string { l, _, _ := strings.Cut(s, "\n"); return l }
