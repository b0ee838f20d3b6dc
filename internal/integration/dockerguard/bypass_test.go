package dockerguard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

// rawRequest sends req byte for byte over a TLS connection as client, so no
// client library cleans the path first, and returns the response.
func (e *env) rawRequest(t testing.TB, client, req string) (int, string) {
	t.Helper()
	c, err := e.tlsConn(t, client)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Write while reading: gatehouse may answer (413) before it has read
	// all of a large body.
	go io.WriteString(c, req)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("%q: %v", req, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(body)
}

func post(path, contentType, body string) string {
	h := "POST " + path + " HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
	if contentType != "" {
		h += "Content-Type: " + contentType + "\r\n"
	}
	return h + fmt.Sprintf("Content-Length: %d\r\n\r\n%s", len(body), body)
}

// Path tricks from DOCKER-NOTES.md and more, sent by the read-only client,
// which may list containers but not create them or exec in them. Each is
// refused, and dockerd never sees a create.
func TestPathBypassAttempts(t *testing.T) {
	e := newEnv(t)
	cid := e.ok(t, ciClient, "run", "-d", "--network", "none", image, "sleep", "60")
	defer e.direct(t, "rm", "-f", cid)
	before := e.direct(t, "ps", "-aq").out
	body := `{"Image":"` + image + `","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}`
	for _, tc := range []struct{ method, path, rule string }{
		{"POST", "/containers/create", "default-deny"},
		{"POST", "/v1.41/containers/create", "default-deny"},
		{"POST", "/%63ontainers/create", "default-deny"},
		{"POST", "/containers%2Fcreate", "default-deny"},
		{"POST", "/v1.41/%63ontainers/%63reate", "default-deny"},
		{"POST", "/v1.41/containers/" + cid + "/%65xec", "default-deny"},
		{"GET", "/containers/" + cid + "%2Fexport", "default-deny"},
		{"GET", "/containers/" + cid + "/attach%2Fws?stdin=1", "default-deny"},
		{"POST", "/v1.41./containers/create", "path-normalisation"},
		{"POST", "/v1.41../containers/create", "path-normalisation"},
		{"POST", "/v01.41/containers/create", "path-normalisation"},
		{"POST", "/v1.041/containers/create", "path-normalisation"},
		{"POST", "/v1.41.0/containers/create", "path-normalisation"},
		{"POST", "/v1.40.99/containers/create", "path-normalisation"},
		{"POST", "//containers/create", "path-normalisation"},
		{"POST", "/containers//create", "path-normalisation"},
		{"POST", "/./containers/create", "path-normalisation"},
		{"POST", "/containers/json/../create", "path-normalisation"},
		{"POST", "/containers/json/%2e%2e/create", "path-normalisation"},
		{"POST", "/v1.41/containers/json/..%2Fcreate", "path-normalisation"},
		{"POST", "/containers/create/", "path-normalisation"},
		{"POST", "/containers/create%00", "path-normalisation"},
		{"POST", "/containers/create%0a", "path-normalisation"},
		{"POST", "/%2563ontainers/create", "path-normalisation"},
		{"POST", "/containers\\create", "path-normalisation"},
		{"POST", "/containers/create;x", "unknown-endpoint"},
		{"OPTIONS", "/containers/create", "unknown-endpoint"},
		{"HEAD", "/containers/create", "unknown-endpoint"},
		{"post", "/containers/create", "unknown-endpoint"},
		{"POST", "/grpc", "unknown-endpoint"},
		{"POST", "/session", "default-deny"},
	} {
		code, resp := e.rawRequest(t, roClient, strings.Replace(post(tc.path, "application/json", body), "POST", tc.method, 1))
		if tc.method == "HEAD" {
			resp = `"message":"gatehouse refused (rule ` + tc.rule + `)` // HEAD answers carry no body
		}
		if code != 403 || !strings.Contains(resp, `"message":"gatehouse refused`) || !strings.Contains(resp, "(rule "+tc.rule+")") {
			t.Errorf("%s %s: %d %s; want 403 naming rule %s", tc.method, tc.path, code, resp, tc.rule)
		}
	}
	// An absolute-form request URI is routed on its path as well.
	if code, resp := e.rawRequest(t, roClient, post("http://docker/containers/create", "application/json", body)); code != 403 {
		t.Errorf("absolute URI: %d %s", code, resp)
	}
	// The decoded form of an allowed endpoint still works.
	if code, resp := e.rawRequest(t, roClient, "GET /v1.41/%63ontainers/json HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"); code != 200 || !strings.Contains(resp, cid) {
		t.Errorf("GET /v1.41/%%63ontainers/json: %d %s", code, resp)
	}
	if code, _ := e.rawRequest(t, roClient, "HEAD /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n"); code != 200 {
		t.Errorf("HEAD /_ping: %d", code)
	}
	if after := e.direct(t, "ps", "-aq").out; after != before {
		t.Errorf("dockerd created containers:\nbefore %q\nafter %q", before, after)
	}
}

// Bodies that a guard parsing differently from dockerd would let through,
// sent by the ci client, which may create containers.
func TestBodyBypassAttempts(t *testing.T) {
	e := newEnv(t)
	before := e.direct(t, "ps", "-aq").out
	priv := `"HostConfig":{"Privileged":true,"NetworkMode":"none"}`
	img := `"Image":"` + image + `","Cmd":["true"]`
	for _, tc := range []struct {
		name, req string
		status    int
		rule      string
	}{
		{"case-variant duplicate", post("/containers/create", "application/json",
			`{`+img+`,"HostConfig":{"Privileged":false},"hostconfig":{"Privileged":true}}`), 403, "strict-json"},
		{"exact duplicate", post("/containers/create", "application/json",
			`{`+img+`,"HostConfig":{"Privileged":false,"Privileged":true}}`), 403, "strict-json"},
		{"lower-case keys", post("/containers/create", "application/json",
			`{`+img+`,"hostconfig":{"privileged":true}}`), 403, "no-privileged"},
		{"unicode folding", post("/containers/create", "application/json",
			`{`+img+`,"HostConfig":{"Bind\u017f":["/:/host"]}}`), 403, "bind-allowlist"},
		{"trailing value", post("/containers/create", "application/json",
			`{`+img+`,"HostConfig":{"NetworkMode":"none"}}{"HostConfig":{"Privileged":true}}`), 403, "strict-json"},
		{"content type with parameters", post("/v1.41/containers/create", "application/json; charset=utf-8",
			`{`+img+`,`+priv+`}`), 403, "no-privileged"},
		{"no content type", post("/containers/create", "", `{`+img+`,`+priv+`}`), 403, "no-privileged"},
		{"form body", post("/containers/create", "application/x-www-form-urlencoded", `{`+img+`,`+priv+`}`), 403, "no-form-body"},
		{"broken form content type", post("/containers/create", "application/x-www-form-urlencoded;;", `{`+img+`,`+priv+`}`), 403, "no-form-body"},
		{"chunked", "POST /containers/create HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
			chunk(`{`+img+`,`) + chunk(priv+`}`) + "0\r\n\r\n", 403, "no-privileged"},
		{"over the size limit", post("/containers/create", "application/json",
			`{`+img+`,"Labels":{"pad":"`+strings.Repeat("x", 2<<20)+`"},`+priv+`}`), 413, "body-limit"},
		{"privileged exec", post("/containers/x/exec", "application/json", `{"Cmd":["sh"],"Privileged":true}`), 403, "no-privileged"},
		{"bind volume", post("/volumes/create", "application/json", `{"Name":"hostroot","DriverOpts":{"type":"none","o":"bind","device":"/"}}`), 403, "no-volume-driver"},
		{"remote import", "POST /images/create?fromSrc=http://127.0.0.1:1/x.tar HTTP/1.1\r\nHost: d\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", 403, "no-remote-fetch"},
	} {
		code, resp := e.rawRequest(t, ciClient, tc.req)
		if code != tc.status || !strings.Contains(resp, "(rule "+tc.rule+")") {
			t.Errorf("%s: %d %s; want %d naming rule %s", tc.name, code, resp, tc.status, tc.rule)
		}
	}
	// Content-Length: 0 with a body behind it (CVE-2024-41110): the body
	// is not part of the request, so dockerd gets an empty create and the
	// rest is a malformed next request.
	c, err := e.tlsConn(t, ciClient)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "POST /containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n{"+img+","+priv+"}\r\n\r\n")
	br := bufio.NewReader(c)
	for i := 0; i < 2; i++ {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		t.Logf("smuggling: response %d", resp.StatusCode)
		if resp.StatusCode/100 == 2 {
			t.Errorf("smuggled body: response %d", resp.StatusCode)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	c.Close()

	after := e.direct(t, "ps", "-aq").out
	if after != before {
		t.Errorf("dockerd created containers:\nbefore %q\nafter %q", before, after)
	}
	for _, id := range strings.Fields(after) {
		if out := e.direct(t, "inspect", "--format", "{{.HostConfig.Privileged}}", id).out; strings.TrimSpace(out) != "false" {
			t.Errorf("container %s is privileged", id)
		}
	}
}

func chunk(s string) string { return fmt.Sprintf("%x\r\n%s\r\n", len(s), s) }

// exec -it: a TTY session through the hijacked exec stream, with the
// terminal given by script(1).
func TestExecTTY(t *testing.T) {
	e := newEnv(t)
	script := testutil.RequireCommand(t, "script") // bsdutils, essential in Debian
	cid := e.ok(t, ciClient, "run", "-d", "--network", "none", image, "sleep", "60")
	defer e.direct(t, "rm", "-f", cid)
	cmd := exec.Command(script, "-qec", dockerBin+" exec -it "+cid+" sh -c 'tty; echo tty-ok'", "/dev/null")
	home := openDir(t, 0o700)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "HOME=" + home, "DOCKER_CONFIG=" + home, "TERM=dumb",
		"DOCKER_HOST=tcp://" + e.g.addr, "DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=" + e.certs[ciClient]}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "/dev/pts/") || !strings.Contains(string(out), "tty-ok") {
		t.Errorf("exec -it: %v\n%s", err, out)
	}
}

// directAPI sends a request straight to dockerd, to show that what gatehouse
// refuses would have worked.
func (e *env) directAPI(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", e.d.socket)
	}}}
	req, _ := http.NewRequest(method, "http://docker"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Old ways of saying "privileged" that dockerd 20.10 still understands: the
// deprecated top-level HostConfig fields of a create body, and a HostConfig
// sent with container start under API versions before 1.24.
func TestLegacyHostConfigBypass(t *testing.T) {
	e := newEnv(t)
	legacy := `{"Image":"` + image + `","Cmd":["sleep","60"],"NetworkMode":"none","Binds":["/:/hostroot"]}`
	// dockerd takes it...
	code, body := e.directAPI(t, "POST", "/v1.41/containers/create", legacy)
	if code != 201 {
		t.Fatalf("direct legacy create: %d %s", code, body)
	}
	var created struct{ Id string }
	json.Unmarshal([]byte(body), &created)
	defer e.direct(t, "rm", "-f", created.Id)
	binds := strings.TrimSpace(e.direct(t, "inspect", "--format", "{{.HostConfig.Binds}}", created.Id).out)
	t.Logf("dockerd applied top-level Binds: %s", binds)
	// ...gatehouse does not.
	if code, resp := e.rawRequest(t, ciClient, post("/v1.41/containers/create", "application/json", legacy)); code != 403 || !strings.Contains(resp, "(rule bind-allowlist)") {
		t.Errorf("legacy create through gatehouse: %d %s", code, resp)
	}

	cid := e.ok(t, ciClient, "create", "--network", "none", image, "sleep", "60")
	defer e.direct(t, "rm", "-f", cid)
	startBody := `{"Binds":["/:/hostroot"]}`
	for _, tc := range []struct{ path, rule string }{
		{"/v1.23/containers/" + cid + "/start", "api-version"},
		{"/v1.12/containers/" + cid + "/start", "api-version"},
		{"/v1.41/containers/" + cid + "/start", "no-start-body"},
		{"/containers/" + cid + "/start", "no-start-body"},
	} {
		if code, resp := e.rawRequest(t, ciClient, post(tc.path, "application/json", startBody)); code != 403 || !strings.Contains(resp, "(rule "+tc.rule+")") {
			t.Errorf("POST %s with a HostConfig: %d %s; want rule %s", tc.path, code, resp, tc.rule)
		}
	}
	if out := e.direct(t, "inspect", "--format", "{{.State.Status}} {{.HostConfig.Binds}}", cid).out; strings.TrimSpace(out) != "created []" {
		t.Errorf("container changed: %q", out)
	}
	// Without a body, start works.
	if code, resp := e.rawRequest(t, ciClient, post("/v1.41/containers/"+cid+"/start", "", "")); code != 204 {
		t.Errorf("plain start: %d %s", code, resp)
	}
}
