package main

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	defer ok.Close()
	// A port nothing listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		code int
		out  string
	}{
		{[]string{"--url", ok.URL + "/healthz"}, nil, 0, "healthy"},
		{nil, map[string]string{"GATEHOUSE_HEALTHCHECK_URL": ok.URL + "/healthz"}, 0, "healthy"},
		{[]string{"--url", ok.URL + "/nope"}, nil, 1, "404"},
		{[]string{"--url", closed}, nil, 1, "unhealthy"},
		{[]string{"--url", "ftp://x/healthz"}, nil, 2, "not an http(s) URL"},
		{[]string{"--url", ok.URL, "extra"}, nil, 2, "unexpected argument"},
	} {
		code, out, errOut := runCmd(t, tc.env, append([]string{"healthcheck"}, tc.args...)...)
		if code != tc.code || !strings.Contains(out+errOut, tc.out) {
			t.Errorf("%v %v: exit %d, %q %q; want %d and %q", tc.args, tc.env, code, out, errOut, tc.code, tc.out)
		}
	}
}
