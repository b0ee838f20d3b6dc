package server_test

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

// A client that asks for a large zip and stops reading loses its
// connection after WriteTimeout; its handler returns, and the request is
// logged, instead of both being held for as long as the client likes. A
// client that reads, however large the zip, is not cut off.
func TestSlowReaderIsCutOff(t *testing.T) {
	up, s, done := bigZipServer(t, 6<<20, 300*time.Millisecond)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	// A client that reads gets the whole zip (and stores it: the stalled
	// request below is a hit, sent with sendfile).
	resp, err := http.Get(srv.URL + "/example.com/big/@v/v1.0.0.zip")
	if err != nil {
		t.Fatal(err)
	}
	n, _ := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	want := int64(len(up.Artifacts("example.com/big", "v1.0.0").Zip))
	if resp.StatusCode != 200 || n != want {
		t.Fatalf("reading client: %d, %d bytes of %d", resp.StatusCode, n, want)
	}
	<-done

	d := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := d.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET /example.com/big/@v/v1.0.0.zip HTTP/1.1\r\nHost: x\r\n\r\n")
	start := time.Now()
	select {
	case e := <-done:
		if e.Bytes >= want {
			t.Errorf("the stalled client was sent all %d bytes", e.Bytes)
		}
		t.Logf("stalled client cut off after %v, %d of %d bytes written", time.Since(start).Round(time.Millisecond), e.Bytes, want)
	case <-time.After(10 * time.Second):
		t.Fatal("a client that stopped reading still holds its handler after 10s")
	}
	// The connection is closed: reading what was buffered ends.
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.Copy(io.Discard, bufio.NewReader(conn)); err != nil && strings.Contains(err.Error(), "timeout") {
		t.Errorf("connection still open: %v", err)
	}
}

// bigZipServer returns a test upstream holding example.com/big@v1.0.0, a
// zip of size bytes of random content (which does not compress), and a
// server in front of it with writeTimeout whose audit records arrive on
// done.
func bigZipServer(t *testing.T, size int, writeTimeout time.Duration) (*testproxy.Server, *server.Server, chan *reqlog.Entry) {
	t.Helper()
	up := testproxy.New(t)
	raw := make([]byte, size)
	rand.Read(raw)
	if err := up.Add("example.com/big", "v1.0.0", map[string]string{
		"go.mod": "module example.com/big\n\ngo 1.21\n", "blob.bin": string(raw),
	}, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	store, _ := fs.New(t.TempDir())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	chain, _ := upstream.ParseChain(up.URL, nil)
	checker, err := verify.NewSumDB(verify.SumDBOptions{Key: up.GOSUMDB(), URL: up.SumDBURL(), StateDir: t.TempDir(), Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	cache, _ := modcache.New(modcache.Options{Store: store, TempDir: t.TempDir(), Logger: quiet,
		Route: func(string) modcache.Route { return modcache.Route{Name: "public", Source: chain, Checker: checker} }})
	done := make(chan *reqlog.Entry, 10)
	s := server.New(server.Options{Cache: cache, Logger: quiet, WriteTimeout: writeTimeout,
		OnDone: func(e *reqlog.Entry) { done <- e }})
	return up, s, done
}
