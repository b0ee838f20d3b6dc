package server_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// rawGet sends a request line as written, which net/http's client would
// clean up first, and returns the status.
func rawGet(t *testing.T, base, method, target string) int {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", method, target)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Every answer but a health check leaves an audit record, with the path
// both decoded and as sent: redirects (there are none now), 400s and 405s
// included. Non-canonical paths get a 400, never a redirect to the path
// of another module.
func TestEveryAnswerIsAudited(t *testing.T) {
	tests := []struct {
		method, target string
		status         int
	}{
		{"GET", "/example.com//greet/@v/list", 400},
		{"GET", "/example.com/./greet/@v/list", 400},
		{"GET", "/other.com/x/../../example.com/greet/@v/list", 400},
		{"GET", "/example.com/greet/@v/list/", 400},
		{"GET", "/example.com/%2e%2e/greet/@v/list", 400},
		{"GET", "/sumdb", 404},
		{"GET", "/sumdb//sum.gatehouse.test/supported", 400},
		{"POST", "/example.com/greet/@v/list", 405},
		{"DELETE", "/example.com/greet/@v/v1.0.0.zip", 405},
		{"GET", "/example.com/greet/@v/v1.0.0.zip?x=%00", 200},
		{"GET", "/example.com/%67reet/@v/list", 400},
	}
	e := newTestEnv(t)
	for i, tt := range tests {
		if got := rawGet(t, e.srv.URL, tt.method, tt.target); got != tt.status {
			t.Errorf("%s %s: %d, want %d", tt.method, tt.target, got, tt.status)
		}
		if len(e.done) != i+1 {
			t.Fatalf("%s %s left no audit record", tt.method, tt.target)
		}
		got := e.done[i]
		if got.Kind == "" || got.RawURI != tt.target || got.Method != tt.method || got.Status != tt.status {
			t.Errorf("%s %s: audited as kind %q raw %q method %q status %d", tt.method, tt.target, got.Kind, got.RawURI, got.Method, got.Status)
		}
		if tt.status >= 400 && (got.Kind != "invalid" || got.Decision == "allow" || got.Reason == "") {
			t.Errorf("%s %s: refusal audited as %q %q %q", tt.method, tt.target, got.Kind, got.Decision, got.Reason)
		}
	}
	if rawGet(t, e.srv.URL, "GET", "/healthz"); len(e.done) != len(tests) {
		t.Errorf("a health check was audited")
	}
}

// A client that hangs up while its fetch is under way gets no answer, and
// the audit record says so: not status 200 with an empty reason, as if it
// had been served.
func TestClientGoneIsAuditedAsSuch(t *testing.T) {
	up := testproxy.New(t)
	up.SetDelay(time.Second)
	store, _ := fs.New(t.TempDir())
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	chain, _ := upstream.ParseChain(up.URL, nil)
	cache, _ := modcache.New(modcache.Options{Store: store, TempDir: t.TempDir(), Logger: quiet,
		Route: func(string) modcache.Route { return modcache.Route{Name: "public", Source: chain} }})
	done := make(chan *reqlog.Entry, 1)
	s := server.New(server.Options{Cache: cache, Logger: quiet, OnDone: func(e *reqlog.Entry) { done <- e }})
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/example.com/greet/@v/list", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatalf("answered %d before the client gave up", resp.StatusCode)
	}
	start := time.Now()
	select {
	case e := <-done:
		t.Logf("audited %v after the client gave up", time.Since(start))
		if e.Status != server.StatusClientGone || e.Decision != "error" || e.Reason != "the client went away before the answer" {
			t.Errorf("audited as status %d, %q %q", e.Status, e.Decision, e.Reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no audit record")
	}
}
