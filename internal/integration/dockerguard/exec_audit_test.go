package dockerguard

import (
	"bufio"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// An exec that someone else created (an operator, another tool, or a client
// of another profile) is judged again when a client starts it: its id is in
// container inspect, and starting it runs whatever it was created with.
func TestExecStartOfAnotherPrivilegedExec(t *testing.T) {
	e := newEnv(t)
	cid := e.ok(t, ciClient, "run", "-d", "--network", "none", image, "sleep", "60")
	defer e.direct(t, "rm", "-f", cid)
	newExec := func(privileged bool) string {
		t.Helper()
		body := `{"Cmd":["id"],"AttachStdout":true,"Privileged":` + map[bool]string{true: "true", false: "false"}[privileged] + `}`
		code, resp := e.directAPI(t, "POST", "/v1.41/containers/"+cid+"/exec", body)
		var x struct{ Id string }
		if code != 201 || json.Unmarshal([]byte(resp), &x) != nil || x.Id == "" {
			t.Fatalf("direct exec create: %d %s", code, resp)
		}
		return x.Id
	}
	priv := newExec(true)
	// The id is there for anyone who may inspect the container.
	if out := e.ok(t, ciClient, "inspect", "--format", "{{.ExecIDs}}", cid); !strings.Contains(out, priv) {
		t.Fatalf("exec id not in inspect: %q", out)
	}
	start := `{"Detach":true,"Tty":false}`
	for _, p := range []string{"/v1.41/exec/" + priv + "/start", "/exec/" + priv + "/start", "/v1.41/%65xec/" + priv + "/start"} {
		if code, resp := e.rawRequest(t, ciClient, post(p, "application/json", start)); code != 403 || !strings.Contains(resp, "(rule no-privileged)") {
			t.Errorf("POST %s of a privileged exec: %d %s; want a no-privileged refusal", p, code, resp)
		}
	}
	// Never started: dockerd would answer 409 "has already run".
	if code, resp := e.directAPI(t, "POST", "/v1.41/exec/"+priv+"/start", start); code == 409 {
		t.Errorf("the privileged exec was started through gatehouse: %d %s", code, resp)
	}
	// An unknown exec id gets dockerd's own answer.
	if code, resp := e.rawRequest(t, ciClient, post("/v1.41/exec/"+strings.Repeat("0", 64)+"/start", "application/json", start)); code != 404 {
		t.Errorf("unknown exec: %d %s", code, resp)
	}
	// A plain exec made elsewhere still starts.
	plain := newExec(false)
	if code, resp := e.rawRequest(t, ciClient, post("/v1.41/exec/"+plain+"/start", "application/json", start)); code != 200 {
		t.Errorf("plain exec start: %d %s", code, resp)
	}
}

// With Expect: 100-continue the client first gets "100 Continue", then the
// real answer; the audit record has the real one.
func TestAuditStatusAfterContinue(t *testing.T) {
	e := newEnv(t)
	body := `{"Image":"` + image + `","Cmd":["true"],"HostConfig":{"NetworkMode":"none"}}`
	req := "POST /v1.41/containers/create?name=gh-continue HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n" +
		"Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: " + itoa(int64(len(body))) + "\r\n\r\n" + body
	defer e.direct(t, "rm", "-f", "gh-continue")
	c, err := e.tlsConn(t, ciClient)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, req)
	br := bufio.NewReader(c)
	var codes []int
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("after %v: %v", codes, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if resp.StatusCode >= 200 {
			break
		}
	}
	if len(codes) != 2 || codes[0] != 100 || codes[1] != 201 {
		t.Fatalf("create answered %v, want [100 201]", codes)
	}
	var got []int
	waitFor(t, func() bool {
		got = nil
		for _, r := range e.g.audit(t) {
			if r.Endpoint == "/containers/create" && r.Identity == ciClient {
				got = append(got, r.Status)
			}
		}
		return len(got) > 0
	})
	if len(got) != 1 || got[0] != 201 {
		t.Errorf("audit statuses of the create: %v, want [201]", got)
	}
}
