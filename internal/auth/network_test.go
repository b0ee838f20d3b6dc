package auth

import (
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

func TestClientAddr(t *testing.T) {
	trusted, err := ParseNetworks([]string{"10.0.0.0/8", "::1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		remote string
		xff    []string
		want   string
	}{
		{"192.0.2.1:5000", nil, "192.0.2.1"},
		// An untrusted peer cannot choose its address.
		{"192.0.2.1:5000", []string{"10.1.1.1"}, "192.0.2.1"},
		// A trusted proxy names the client.
		{"10.0.0.5:5000", []string{"198.51.100.7"}, "198.51.100.7"},
		// The client's own X-Forwarded-For entries are ignored: only the
		// hop the trusted proxy appended counts.
		{"10.0.0.5:5000", []string{"127.0.0.1, 198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.5:5000", []string{"127.0.0.1", "198.51.100.7, 10.0.0.9"}, "198.51.100.7"},
		{"[::1]:5000", []string{"2001:db8::1"}, "2001:db8::1"},
		{"10.0.0.5:5000", []string{"garbage, 198.51.100.7"}, "198.51.100.7"},
		{"10.0.0.5:5000", []string{"198.51.100.7, garbage"}, "10.0.0.5"},
		{"10.0.0.5:5000", nil, "10.0.0.5"},
		{"[::ffff:192.0.2.1]:5000", nil, "192.0.2.1"},
	}
	for _, tt := range tests {
		r := &http.Request{RemoteAddr: tt.remote, Header: http.Header{}}
		for _, h := range tt.xff {
			r.Header.Add("X-Forwarded-For", h)
		}
		got, ok := ClientAddr(r, trusted)
		if !ok || got != netip.MustParseAddr(tt.want) {
			t.Errorf("ClientAddr(%s, %q) = %v, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}

func TestNetworks(t *testing.T) {
	ns, err := ParseNetworks([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32", "::ffff:198.51.100.0/120"})
	if err != nil {
		t.Fatal(err)
	}
	for a, want := range map[string]bool{"10.2.3.4": true, "11.0.0.1": false, "192.0.2.7": true, "192.0.2.8": false,
		"2001:db8::5": true, "2001:db9::5": false, "::ffff:10.0.0.1": true, "198.51.100.9": true} {
		if got := ns.Contains(netip.MustParseAddr(a)); got != want {
			t.Errorf("Contains(%s) = %v", a, got)
		}
	}
	for _, bad := range []string{"10.0.0.0/33", "example.com", "10.0.0"} {
		if _, err := ParseNetworks([]string{bad}); err == nil {
			t.Errorf("ParseNetworks(%q) succeeded", bad)
		}
	}
}

func TestIsLoopbackListen(t *testing.T) {
	for a, want := range map[string]bool{"127.0.0.1:3000": true, "[::1]:3000": true, "localhost:80": true, "127.5.0.1:1": true,
		":3000": false, "0.0.0.0:3000": false, "[::]:3000": false, "10.0.0.1:3000": false, "example.com:80": false} {
		if got := IsLoopbackListen(a); got != want {
			t.Errorf("IsLoopbackListen(%s) = %v", a, got)
		}
	}
}

func TestFilterListener(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer inner.Close()
	for _, tt := range []struct {
		allowed []string
		served  bool
	}{{[]string{"10.0.0.0/8"}, false}, {[]string{"127.0.0.0/8"}, true}} {
		allowed, _ := ParseNetworks(tt.allowed)
		ln := FilterListener(inner, allowed, nil)
		accepted := make(chan bool, 1)
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.Write([]byte("x"))
				c.Close()
			}
			accepted <- err == nil
		}()
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetReadDeadline(time.Now().Add(time.Second))
		n, _ := c.Read(make([]byte, 1))
		c.Close()
		if (n == 1) != tt.served {
			t.Errorf("allowed %v: served=%v", tt.allowed, n == 1)
		}
		if !tt.served {
			// Unblock the pending Accept with an allowed connection: none can be, so close.
			inner.(*net.TCPListener).SetDeadline(time.Now())
			<-accepted
			inner.(*net.TCPListener).SetDeadline(time.Time{})
		} else if !<-accepted {
			t.Error("allowed connection not accepted")
		}
	}
}
