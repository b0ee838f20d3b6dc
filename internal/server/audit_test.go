package server_test

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
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
