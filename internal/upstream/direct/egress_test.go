package direct_test

import (
	"bufio"
	"encoding/base64"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/upstream/direct"
)

// The egress proxy listens on loopback, where any local process can reach
// it; only a request with the password from its URL may tunnel, so another
// process cannot borrow gatehouse's network position or parent proxy.
func TestEgressRequiresItsCredentials(t *testing.T) {
	target, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	var accepted atomic.Int32
	go func() {
		for {
			c, err := target.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			io.WriteString(c, "hello through the tunnel\n")
			c.Close()
		}
	}()

	var logs testutil.Buffer
	e := &direct.Egress{Hosts: direct.Hosts{target.Addr().String()}, Proxy: func(*http.Request) (*url.URL, error) { return nil, nil },
		Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	proxyURL, err := e.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	u, err := url.Parse(proxyURL)
	if err != nil || u.User == nil || e.Secret() == "" {
		t.Fatalf("proxy URL %q carries no credentials", proxyURL)
	}
	if pw, _ := u.User.Password(); len(pw) < 20 || pw != e.Secret() {
		t.Fatalf("proxy password %q is not the egress secret", pw)
	}

	connect := func(auth string) (status int, line string) {
		c, err := net.Dial("tcp", u.Host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		req := "CONNECT " + target.Addr().String() + " HTTP/1.1\r\nHost: " + target.Addr().String() + "\r\n"
		if auth != "" {
			req += "Proxy-Authorization: " + auth + "\r\n"
		}
		io.WriteString(c, req+"\r\n")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, &http.Request{Method: http.MethodConnect})
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 {
			line, _ = br.ReadString('\n')
		}
		return resp.StatusCode, line
	}
	basic := func(user, pw string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pw))
	}
	pw, _ := u.User.Password()
	for name, auth := range map[string]string{
		"none":           "",
		"wrong password": basic("gatehouse", pw[:len(pw)-1]+"x"),
		"wrong user":     basic("root", pw),
		"bearer":         "Bearer " + pw,
		"garbage":        "Basic !!!",
	} {
		if st, _ := connect(auth); st != http.StatusProxyAuthRequired {
			t.Errorf("%s: status %d, want 407", name, st)
		}
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d connections reached the target without the proxy password", n)
	}
	if st, line := connect(basic(u.User.Username(), pw)); st != 200 || line != "hello through the tunnel\n" {
		t.Errorf("with the password: status %d, read %q", st, line)
	}
	if strings.Contains(logs.String(), pw) {
		t.Error("the proxy password is in the log")
	}
}
