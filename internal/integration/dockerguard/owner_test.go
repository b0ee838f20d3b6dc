package dockerguard

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testpki"
)

// Clients of the owner-scoped configuration.
const (
	ownerA  = "owner-a"  // profile team: ci, networks, owner_scoped
	ownerA2 = "owner-a2" // a second certificate with owner-a's name
	ownerB  = "owner-b"  // profile team
)

var metricsRE = regexp.MustCompile(`metrics=(http://\S+/metrics)`)

// newScopedEnv starts a gatehouse docker whose team profile is owner
// scoped, beside an unscoped ci client, with metrics on their own listener.
func newScopedEnv(t *testing.T) (*env, string) {
	t.Helper()
	d := requireEngine(t)
	tmp := openDir(t, 0o755)
	e := &env{d: d, certs: map[string]string{}, tmp: tmp, allow: filepath.Join(tmp, "allowed")}
	os.Mkdir(e.allow, 0o755)
	authority := testpki.NewCA(t, "gatehouse test CA")
	server := certDir(t, authority.Server(t), authority)
	for _, n := range []string{ownerA, ownerB, ciClient} {
		e.certs[n] = certDir(t, authority.Client(t, n), authority)
	}
	e.certs[ownerA2] = certDir(t, authority.Client(t, ownerA), authority)
	cfg := `audit_file = "` + filepath.Join(tmp, "audit.log") + `"
metrics_listen = "127.0.0.1:0"

[profiles.team]
presets = ["ci"]
allow = ["POST /networks/create", "DELETE /networks/{id}", "POST /networks/{id}/connect", "GET /containers/{id}/top"]
owner_scoped = true

[[clients]]
cert = "owner-a"
profile = "team"

[[clients]]
cert = "owner-b"
profile = "team"

[[clients]]
cert = "ci-client"
profile = "ci"
`
	cfgFile := filepath.Join(tmp, "docker.toml")
	writeFile(t, cfgFile, cfg)
	e.g = startGuard(t, "--socket", d.socket, "--listen", "127.0.0.1:0,unix://"+filepath.Join(tmp, "gh.sock"),
		"--tls-cert", filepath.Join(server, "cert.pem"), "--tls-key", filepath.Join(server, "key.pem"),
		"--client-ca", filepath.Join(server, "ca.pem"), "--config", cfgFile)
	e.g.caPEM = authority.CertPEM
	m := metricsRE.FindStringSubmatch(e.g.logs())
	if m == nil {
		t.Fatalf("no metrics address in the log:\n%s", e.g.logs())
	}
	return e, m[1]
}

// fails runs the CLI as client and fails the test unless it fails with
// an error that holds want.
func (e *env) fails(t *testing.T, client, want string, args ...string) {
	t.Helper()
	r := e.cli(t, client, "", args...)
	if r.code == 0 || !strings.Contains(r.err, want) {
		t.Errorf("docker %s as %s: want a failure with %q, got:\n%s", strings.Join(args, " "), client, want, r)
	}
}

func TestOwnerScope(t *testing.T) {
	e, _ := newScopedEnv(t)
	cidA := e.ok(t, ownerA, "run", "-d", "--name", "gh-own-a", "--network", "none", image, "sleep", "60")
	defer e.direct(t, "rm", "-f", cidA)
	cidB := e.ok(t, ownerB, "run", "-d", "--name", "gh-own-b", "--network", "none", image, "sleep", "60")
	defer e.direct(t, "rm", "-f", cidB)
	cidU := strings.TrimSpace(e.direct(t, "run", "-d", "--name", "gh-unowned", "--network", "none", image, "sleep", "60").out)
	defer e.direct(t, "rm", "-f", cidU)
	if out := strings.TrimSpace(e.direct(t, "inspect", "--format", `{{index .Config.Labels "dev.gatehouse.owner"}}`, cidA).out); out != ownerA {
		t.Fatalf("owner label of A's container: %q", out)
	}

	t.Run("Lists", func(t *testing.T) {
		for _, tc := range []struct {
			client   string
			args     []string
			has, not []string
		}{
			{ownerA, []string{"ps", "-a", "--no-trunc", "-q"}, []string{cidA}, []string{cidB, cidU}},
			{ownerB, []string{"ps", "-a", "--no-trunc", "-q"}, []string{cidB}, []string{cidA, cidU}},
			{ownerA2, []string{"ps", "-a", "--no-trunc", "-q"}, []string{cidA}, []string{cidB, cidU}},
			// The client's own filters are kept and only narrow the list.
			{ownerA, []string{"ps", "-a", "--no-trunc", "-q", "--filter", "name=gh-own"}, []string{cidA}, []string{cidB}},
			{ownerA, []string{"ps", "-a", "--no-trunc", "-q", "--filter", "label=dev.gatehouse.owner=owner-b"}, nil, []string{cidA, cidB}},
			{ownerA, []string{"ps", "-a", "--no-trunc", "-q", "--filter", "name=gh-unowned"}, nil, []string{cidU}},
			{ciClient, []string{"ps", "-a", "--no-trunc", "-q"}, []string{cidA, cidB, cidU}, nil},
		} {
			out := e.ok(t, tc.client, tc.args...)
			for _, h := range tc.has {
				if !strings.Contains(out, h) {
					t.Errorf("%s %v does not list %.12s:\n%s", tc.client, tc.args, h, out)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(out, n) {
					t.Errorf("%s %v lists %.12s:\n%s", tc.client, tc.args, n, out)
				}
			}
		}
		e.refused(t, ownerA, "owner-scope", "system", "df")
		// Events too: B sees the start of its own container, not A's.
		since, until := itoa(time.Now().Add(-time.Minute).Unix()), itoa(time.Now().Unix()+1)
		out := e.ok(t, ownerB, "events", "--since", since, "--until", until, "--format", "{{.Actor.ID}}")
		if !strings.Contains(out, cidB) || strings.Contains(out, cidA) || strings.Contains(out, cidU) {
			t.Errorf("B's events:\n%s", out)
		}
	})

	t.Run("OthersContainers", func(t *testing.T) {
		for _, ref := range []string{cidA, cidA[:12], cidA[:4], "gh-own-a"} {
			e.fails(t, ownerB, "No such container", "inspect", "--type", "container", ref)
			for _, args := range [][]string{
				{"logs", ref}, {"stop", "-t", "1", ref}, {"kill", ref}, {"restart", "-t", "1", ref}, {"start", ref},
				{"rm", ref}, {"exec", ref, "true"}, {"top", ref}, {"cp", ref + ":/bin/busybox", t.TempDir()},
				{"attach", ref}, {"wait", ref},
			} {
				e.fails(t, ownerB, "No such container", args...)
			}
		}
		// rm -f says nothing of a missing container, and removes nothing.
		e.cli(t, ownerB, "", "rm", "-f", "gh-own-a", cidA[:12])
		// Nor can a container nobody owns be reached.
		e.fails(t, ownerA, "No such container", "exec", "gh-unowned", "true")
		if out := strings.TrimSpace(e.direct(t, "inspect", "--format", "{{.State.Status}}", cidA).out); out != "running" {
			t.Errorf("A's container is %q after B's attempts", out)
		}
		// The answer is the one for a container that does not exist.
		code, other := e.rawRequest(t, ownerB, "GET /v1.41/containers/gh-own-a/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
		code2, none := e.rawRequest(t, ownerB, "GET /v1.41/containers/gh-nope-a/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n")
		if code != 404 || code2 != 404 || strings.ReplaceAll(none, "gh-nope-a", "gh-own-a") != other {
			t.Errorf("B's view of A's container: %d %q; of nothing: %d %q", code, other, code2, none)
		}
		// Other spellings of the same path reach the same check.
		for _, p := range []string{"/v1.41/%63ontainers/gh-own-a/json", "/containers/gh-own-a/json", "/v1.41/containers/%67h-own-a/json",
			"/v1.41/containers/" + cidA[:6] + "/json", "/v1.41/containers/" + cidA + "/logs?stdout=1"} {
			if code, resp := e.rawRequest(t, ownerB, "GET "+p+" HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n"); code != 404 || !strings.Contains(resp, "No such container") {
				t.Errorf("B: GET %s: %d %s", p, code, resp)
			}
		}
		// Its owner, by either of its certificates, can.
		if out := e.ok(t, ownerA, "exec", "gh-own-a", "echo", "mine"); out != "mine" {
			t.Errorf("A exec: %q", out)
		}
		e.ok(t, ownerA2, "inspect", cidA[:12])
		e.ok(t, ownerA, "top", "gh-own-a")
	})

	t.Run("OthersExec", func(t *testing.T) {
		code, resp := e.rawRequest(t, ownerA, post("/v1.41/containers/"+cidA+"/exec", "application/json", `{"Cmd":["true"]}`))
		id := regexp.MustCompile(`"Id":"([0-9a-f]{64})"`).FindStringSubmatch(resp)
		if code != 201 || id == nil {
			t.Fatalf("A exec create: %d %s", code, resp)
		}
		for _, req := range []string{
			post("/v1.41/exec/"+id[1]+"/start", "application/json", `{"Detach":true}`),
			post("/v1.41/exec/"+id[1]+"/resize?h=10&w=10", "", ""),
			"GET /v1.41/exec/" + id[1] + "/json HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n",
		} {
			if code, resp := e.rawRequest(t, ownerB, req); code != 404 || !strings.Contains(resp, "No such exec instance") {
				t.Errorf("B on A's exec %q: %d %s", strings.SplitN(req, "\r\n", 2)[0], code, resp)
			}
		}
		if code, resp := e.rawRequest(t, ownerA, post("/v1.41/exec/"+id[1]+"/start", "application/json", `{"Detach":true}`)); code != 200 {
			t.Errorf("A starts its exec: %d %s", code, resp)
		}
	})

	t.Run("OwnerLabelFromClient", func(t *testing.T) {
		for _, client := range []string{ownerA, ciClient} {
			for _, l := range []string{"dev.gatehouse.owner=owner-b", "DEV.Gatehouse.Owner=owner-b", "dev.gatehouse.owner="} {
				e.refused(t, client, "owner-label", "run", "--rm", "--label", l, "--network", "none", image, "true")
				e.refused(t, client, "owner-label", "volume", "create", "--label", l, "gh-planted")
			}
		}
		// Any spelling of the Labels key is Labels to dockerd.
		for _, key := range []string{"labels", "LABELS", "Labelſ"} {
			body := `{"Image":"` + image + `","` + key + `":{"dev.gatehouse.owner":"owner-b"},"HostConfig":{"NetworkMode":"none"}}`
			if code, resp := e.rawRequest(t, ownerA, post("/v1.41/containers/create", "application/json", body)); code != 403 || !strings.Contains(resp, "(rule owner-label)") {
				t.Errorf("create with %q: %d %s", key, code, resp)
			}
		}
		body := `{"Image":"` + image + `","Labels":{"a":"1"},"labels":{"b":"2"},"HostConfig":{"NetworkMode":"none"}}`
		if code, resp := e.rawRequest(t, ownerA, post("/v1.41/containers/create", "application/json", body)); code != 403 {
			t.Errorf("create with Labels twice: %d %s", code, resp)
		}
		// A client's other labels are kept beside the owner label.
		cid := e.ok(t, ownerA, "create", "--label", "team=blue", "--network", "none", image, "true")
		defer e.direct(t, "rm", "-f", cid)
		if out := strings.TrimSpace(e.direct(t, "inspect", "--format", `{{index .Config.Labels "team"}} {{index .Config.Labels "dev.gatehouse.owner"}}`, cid).out); out != "blue owner-a" {
			t.Errorf("labels: %q", out)
		}
		if r := e.direct(t, "ps", "-a", "-q", "--filter", "label=dev.gatehouse.owner=owner-b"); strings.TrimSpace(r.out) != cidB[:12] {
			t.Errorf("something was planted in B's scope: %q", r.out)
		}
	})

	t.Run("VolumeLabelFromClient", func(t *testing.T) {
		// A volume dockerd creates for a mount carries the mount's
		// VolumeOptions.Labels: with the owner label, another client's
		// scope would gain a volume that this container shares.
		n := 0
		for _, client := range []string{ownerA, ciClient} {
			for _, l := range []string{"dev.gatehouse.owner=owner-b", "DEV.gatehouse.OWNER=owner-b"} {
				for _, named := range []bool{false, true} {
					n++
					src := ""
					if named {
						src = fmt.Sprintf("src=gh-planted-%d,", n)
						defer e.direct(t, "volume", "rm", "-f", fmt.Sprintf("gh-planted-%d", n))
					}
					r := e.cli(t, client, "", "create", "--network", "none", "--mount", "type=volume,"+src+"dst=/d,volume-label="+l, image, "true")
					if r.code == 0 {
						e.direct(t, "rm", "-f", "-v", strings.TrimSpace(r.out))
					}
					if r.code == 0 || !strings.Contains(r.err, "(rule owner-label)") {
						t.Errorf("create --mount ...volume-label=%s (%s) as %s: want a refusal naming owner-label, got:\n%s", l, src, client, r)
					}
				}
			}
		}
		if out := e.ok(t, ownerB, "volume", "ls", "-q"); strings.TrimSpace(out) != "" {
			t.Errorf("volumes planted in B's scope: %q", out)
		}
	})

	t.Run("ImageLabel", func(t *testing.T) {
		// An image may carry the label; gatehouse's value on the create wins.
		dir := t.TempDir()
		writeFile(t, dir+"/Dockerfile", "FROM "+image+"\nLABEL dev.gatehouse.owner=owner-b\n")
		e.ok(t, ownerA, "build", "-q", "-t", "gh-labelled:1", dir)
		defer e.direct(t, "rmi", "-f", "gh-labelled:1")
		cid := e.ok(t, ownerA, "create", "--network", "none", "gh-labelled:1", "true")
		defer e.direct(t, "rm", "-f", cid)
		if out := strings.TrimSpace(e.direct(t, "inspect", "--format", `{{index .Config.Labels "dev.gatehouse.owner"}}`, cid).out); out != ownerA {
			t.Errorf("owner of a container from a labelled image: %q", out)
		}
		if out := e.ok(t, ownerB, "ps", "-a", "-q", "--no-trunc"); strings.Contains(out, cid) {
			t.Errorf("B sees it")
		}
	})

	t.Run("Volumes", func(t *testing.T) {
		e.ok(t, ownerA, "volume", "create", "gh-va")
		defer e.direct(t, "volume", "rm", "-f", "gh-va", "gh-vnew")
		if out := strings.TrimSpace(e.direct(t, "volume", "inspect", "--format", `{{index .Labels "dev.gatehouse.owner"}}`, "gh-va").out); out != ownerA {
			t.Errorf("volume owner: %q", out)
		}
		if out := e.ok(t, ownerB, "volume", "ls", "-q"); strings.Contains(out, "gh-va") {
			t.Errorf("B lists A's volume: %q", out)
		}
		e.fails(t, ownerB, "no such volume", "volume", "inspect", "gh-va")
		e.fails(t, ownerB, "no such volume", "volume", "rm", "gh-va")
		e.refused(t, ownerB, "owner-scope", "volume", "create", "gh-va")
		e.refused(t, ownerB, "owner-scope", "run", "--rm", "--network", "none", "-v", "gh-va:/d", image, "true")
		e.refused(t, ownerB, "owner-scope", "run", "--rm", "--network", "none", "--mount", "source=gh-va,target=/d", image, "true")
		// A volume a container of A's makes is A's.
		e.ok(t, ownerA, "run", "--rm", "--network", "none", "-v", "gh-vnew:/d", image, "true")
		if out := e.ok(t, ownerA, "volume", "ls", "-q"); !strings.Contains(out, "gh-va") || !strings.Contains(out, "gh-vnew") {
			t.Errorf("A's volumes: %q", out)
		}
		e.ok(t, ownerA, "volume", "rm", "gh-va", "gh-vnew")
	})

	t.Run("Networks", func(t *testing.T) {
		if r := e.cli(t, ownerA, "", "network", "create", "--internal", "gh-na"); r.code != 0 {
			t.Skipf("this dockerd cannot create networks:\n%s", r)
		}
		defer e.direct(t, "network", "rm", "gh-na")
		if out := e.ok(t, ownerB, "network", "ls", "-q", "--no-trunc"); strings.Contains(out, e.ok(t, ownerA, "network", "inspect", "--format", "{{.Id}}", "gh-na")) {
			t.Errorf("B lists A's network")
		}
		e.fails(t, ownerB, "not found", "network", "inspect", "gh-na")
		e.fails(t, ownerB, "not found", "network", "rm", "gh-na")
		e.fails(t, ownerB, "not found", "network", "connect", "gh-na", "gh-own-b")
		e.refused(t, ownerB, "owner-scope", "run", "--rm", "--network", "gh-na", image, "true")
		// A build's RUN steps join the network it names: another's is
		// refused by name and by id prefix, as for a container.
		dir := t.TempDir()
		writeFile(t, dir+"/Dockerfile", "FROM "+image+"\nRUN true\n")
		naID := strings.TrimSpace(e.direct(t, "network", "inspect", "--format", "{{.Id}}", "gh-na").out)
		for _, n := range []string{"gh-na", naID[:12], naID} {
			e.refused(t, ownerB, "owner-scope", "build", "-q", "--network", n, dir)
		}
		e.ok(t, ownerA, "build", "-q", "-t", "gh-netbuild:1", "--network", "gh-na", dir)
		defer e.direct(t, "rmi", "-f", "gh-netbuild:1")
		e.refused(t, ownerB, "owner-scope", "create", "--network", "none", "--link", "gh-own-a:a", image, "true")
		e.refused(t, ownerA, "owner-scope", "network", "connect", "gh-na", "gh-own-b")
		// A's own containers may join A's network.
		cid := e.ok(t, ownerA, "create", "--network", "gh-na", image, "true")
		defer e.direct(t, "rm", "-f", cid)
	})
}

// The audit record of a create says what it asked for, and who asked:
// the certificate's subject and serial tell two certificates of one
// client apart.
func TestAuditCreateDetails(t *testing.T) {
	e, _ := newScopedEnv(t)
	defer e.direct(t, "volume", "rm", "-f", "gh-audit-vol")
	e.ok(t, ownerA, "run", "--rm", "--network", "none", "--log-driver", "json-file", "--log-opt", "max-size=1m",
		"-v", "gh-audit-vol:/d", "--mount", "type=tmpfs,target=/t", image, "true")
	e.ok(t, ownerA2, "ps")
	e.refused(t, ownerA2, "no-privileged", "run", "--rm", "--privileged", "--network", "none", image, "true")
	serials := map[string]bool{}
	var create, denied, started bool
	for _, r := range e.g.audit(t) {
		if r.Identity != ownerA {
			continue
		}
		if r.CertSubject != "CN=owner-a" || r.CertSerial == "" {
			t.Errorf("record without certificate subject and serial: %+v", r)
		}
		serials[r.CertSerial] = true
		if r.Endpoint == "/containers/create" && r.Decision == "allow" {
			c := r.Create
			create = c != nil && strings.Join(c.Binds, ",") == "gh-audit-vol:/d" && strings.Join(c.Mounts, ",") == "tmpfs::/t" &&
				c.NetworkMode == "none" && c.LogDriver == "json-file" && strings.Join(c.LogOptions, ",") == "max-size=1m" &&
				c.Image == image && !c.Privileged && r.Owner == ownerA && r.Status == 201
			if !create {
				t.Errorf("create record: %+v %+v", r, c)
			}
		}
		if r.Endpoint == "/containers/create" && r.Decision == "deny" {
			denied = r.Create != nil && r.Create.Privileged
		}
		if strings.HasSuffix(r.Endpoint, "/start") && r.Decision == "allow" {
			started = true
			if len(r.Object) != 64 {
				t.Errorf("start record without the full id it reached: %+v", r)
			}
		}
	}
	if len(serials) != 2 || !create || !denied || !started {
		t.Errorf("serials %v, create %v, denied create %v, start %v", serials, create, denied, started)
	}
}

// A create body with more named volumes than the cap is refused before
// gatehouse looks any of them up.
func TestVolumeLookupCap(t *testing.T) {
	e := newEnv(t)
	args := []string{"run", "--rm", "--network", "none"}
	for i := 0; i <= 100; i++ {
		args = append(args, "-v", "gh-many-"+strconv.Itoa(i)+":/v"+strconv.Itoa(i))
	}
	rm := []string{"volume", "rm", "-f"}
	for i := 0; i <= 100; i++ {
		rm = append(rm, "gh-many-"+strconv.Itoa(i))
	}
	defer e.direct(t, rm...)
	e.refused(t, ciClient, "volume-limit", append(args, image, "true")...)
	if out := e.direct(t, "volume", "ls", "-q", "--filter", "name=gh-many-").out; out != "" {
		t.Errorf("volumes made: %q", out)
	}
}

// Metrics on their own listener, scraped as Prometheus would.
func TestDockerMetrics(t *testing.T) {
	e, url := newScopedEnv(t)
	cid := e.ok(t, ownerA, "run", "-d", "--network", "none", image, "sleep", "60")
	defer e.direct(t, "rm", "-f", cid)
	e.fails(t, ownerB, "No such container", "stop", cid)
	e.refused(t, ownerB, "default-deny", "commit", cid)

	scrape := func() string {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("scrape: %d %s", resp.StatusCode, b)
		}
		return string(b)
	}
	value := func(text, series string) float64 {
		for _, line := range strings.Split(text, "\n") {
			if v, ok := strings.CutPrefix(line, series+" "); ok {
				f, _ := strconv.ParseFloat(v, 64)
				return f
			}
		}
		return -1
	}
	// A hijacked exec stream is counted while it is open.
	ex := e.cliCommand(t, ownerA, "exec", "-i", cid, "cat")
	stdin, _ := ex.StdinPipe()
	stdout, _ := ex.StdoutPipe()
	if err := ex.Start(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(stdin, "ping\n")
	if line, err := bufio.NewReader(stdout).ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("exec -i: %q %v", line, err)
	}
	if v := value(scrape(), "gatehouse_docker_hijacked_streams"); v != 1 {
		t.Errorf("open streams during exec -i: %v", v)
	}
	stdin.Close()
	ex.Wait()
	waitFor(t, func() bool { return value(scrape(), "gatehouse_docker_hijacked_streams") == 0 })

	text := scrape()
	for _, s := range []string{
		`gatehouse_docker_requests_total{decision="deny",group="containers",profile="team",reason="owner-scope"}`,
		`gatehouse_docker_requests_total{decision="deny",group="images",profile="team",reason="default-deny"}`,
		`gatehouse_docker_requests_total{decision="allow",group="containers",profile="team",reason="allowed"}`,
		`gatehouse_docker_requests_total{decision="allow",group="exec",profile="team",reason="allowed"}`,
		`gatehouse_docker_request_duration_seconds_count{decision="allow",group="containers"}`,
	} {
		if v := value(text, s); v < 1 {
			t.Errorf("%s = %v", s, v)
		}
	}
	// No ids, paths or client names in any label.
	for _, bad := range []string{cid[:12], ownerA, ownerB, "/containers/"} {
		if strings.Contains(text, bad) {
			t.Errorf("metrics hold %q", bad)
		}
	}
}
