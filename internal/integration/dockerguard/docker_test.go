package dockerguard

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// One gatehouse docker serves all clients of these tests; each test uses
// containers of its own.
func TestDockerCLI(t *testing.T) {
	e := newEnv(t)

	t.Run("ReadOnly", func(t *testing.T) {
		cid := strings.TrimSpace(e.direct(t, "run", "-d", "--network", "none", image, "sh", "-c", "echo ro-log-line; sleep 60").out)
		if cid == "" {
			t.Fatal("no container")
		}
		defer e.direct(t, "rm", "-f", cid)
		if out := e.ok(t, roClient, "ps", "--no-trunc"); !strings.Contains(out, cid) {
			t.Errorf("ps does not list %s:\n%s", cid, out)
		}
		if out := e.ok(t, roClient, "inspect", "--format", "{{.Id}}", cid); out != cid {
			t.Errorf("inspect: %q", out)
		}
		waitFor(t, func() bool { return strings.Contains(e.ok(t, roClient, "logs", cid), "ro-log-line") })
		e.ok(t, roClient, "version")
		e.ok(t, roClient, "images")
		e.refused(t, roClient, "default-deny", "run", "--rm", "--network", "none", image, "true")
		e.refused(t, roClient, "default-deny", "exec", cid, "true")
		e.refused(t, roClient, "default-deny", "rm", "-f", cid)
		e.refused(t, roClient, "default-deny", "cp", cid+":/bin/busybox", t.TempDir())
	})

	t.Run("CI", func(t *testing.T) {
		if out := e.ok(t, ciClient, "run", "--rm", "--network", "none", image, "echo", "hello from ci"); out != "hello from ci" {
			t.Errorf("run: %q", out)
		}
		// run -i: attach with stdin; EOF on stdin must reach cat.
		r := e.cli(t, ciClient, "line one\nline two\n", "run", "--rm", "-i", "--network", "none", image, "cat")
		if r.code != 0 || r.out != "line one\nline two\n" {
			t.Errorf("run -i cat:\n%s", r)
		}
		cid := e.ok(t, ciClient, "run", "-d", "--network", "none", image, "sleep", "60")
		defer e.direct(t, "rm", "-f", cid)
		// exec -i: a hijacked exec stream; half-close gives cat its EOF.
		r = e.cli(t, ciClient, "piped to exec\n", "exec", "-i", cid, "cat")
		if r.code != 0 || r.out != "piped to exec\n" {
			t.Errorf("exec -i cat:\n%s", r)
		}
		if out := e.ok(t, ciClient, "exec", cid, "sh", "-c", "echo $((6*7))"); out != "42" {
			t.Errorf("exec: %q", out)
		}
		// attach to a running container and see its output to the end.
		acid := e.ok(t, ciClient, "run", "-d", "--network", "none", image, "sh", "-c", "sleep 3; echo attached-output")
		defer e.direct(t, "rm", "-f", acid)
		if r := e.cli(t, ciClient, "", "attach", acid); !strings.Contains(r.out, "attached-output") {
			t.Errorf("attach:\n%s", r)
		}
		e.ok(t, ciClient, "stop", "-t", "1", cid)
		e.ok(t, ciClient, "rm", cid)
	})

	t.Run("CIRefusals", func(t *testing.T) {
		before := e.direct(t, "ps", "-aq").out
		for _, tc := range []struct {
			rule string
			args []string
		}{
			{"no-privileged", []string{"--privileged"}},
			{"bind-allowlist", []string{"-v", "/:/host"}},
			{"bind-allowlist", []string{"--mount", "type=bind,source=/etc,target=/h"}},
			{"no-host-namespaces", []string{"--pid", "host"}},
			{"no-host-namespaces", []string{"--network", "host"}},
			{"no-host-namespaces", []string{"--ipc", "host"}},
			{"no-host-namespaces", []string{"--userns", "host"}},
			{"no-cap-add", []string{"--cap-add", "SYS_ADMIN"}},
			{"no-devices", []string{"--device", "/dev/null"}},
			{"no-security-opt", []string{"--security-opt", "seccomp=unconfined"}},
			{"no-security-opt", []string{"--security-opt", "apparmor=unconfined"}},
			{"no-sysctls", []string{"--sysctl", "net.ipv4.ip_forward=1"}},
		} {
			args := append([]string{"run", "--rm"}, tc.args...)
			if tc.rule != "no-host-namespaces" || tc.args[0] != "--network" {
				args = append(args, "--network", "none")
			}
			e.refused(t, ciClient, tc.rule, append(args, image, "true")...)
		}
		// A named volume that an administrator made with bind options
		// reaches the host like a bind mount; a plain one is fine.
		if r := e.direct(t, "volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=/", "gh-hostroot"); r.code != 0 {
			t.Fatalf("volume create: %s", r)
		}
		defer e.direct(t, "volume", "rm", "-f", "gh-hostroot")
		e.refused(t, ciClient, "no-volume-driver", "run", "--rm", "--network", "none", "-v", "gh-hostroot:/h", image, "true")
		e.refused(t, ciClient, "no-volume-driver", "run", "--rm", "--network", "none", "--mount", "source=gh-hostroot,target=/h", image, "true")
		e.refused(t, ciClient, "no-volume-driver", "volume", "create", "--opt", "type=none", "--opt", "o=bind", "--opt", "device=/etc", "gh-etc")
		defer e.direct(t, "volume", "rm", "-f", "gh-plain")
		if out := e.ok(t, ciClient, "run", "--rm", "--network", "none", "-v", "gh-plain:/data", image, "sh", "-c", "echo v > /data/f; cat /data/f"); out != "v" {
			t.Errorf("plain named volume: %q", out)
		}
		// Inside the allowlist, a read-only bind mount works.
		writeFile(t, e.allow+"/f", "cached\n")
		if out := e.ok(t, ciClient, "run", "--rm", "--network", "none", "-v", e.allow+":/cache:ro", image, "cat", "/cache/f"); out != "cached" {
			t.Errorf("allowed bind: %q", out)
		}
		cid := e.ok(t, ciClient, "run", "-d", "--network", "none", image, "sleep", "60")
		defer e.direct(t, "rm", "-f", cid)
		e.refused(t, ciClient, "no-privileged", "exec", "--privileged", cid, "true")
		e.refused(t, ciClient, "default-deny", "commit", cid)
		e.refused(t, ciClient, "default-deny", "network", "create", "n1")
		e.refused(t, ciClient, "default-deny", "export", cid)
		e.direct(t, "rm", "-f", cid)
		if after := e.direct(t, "ps", "-aq").out; after != before {
			t.Errorf("refused runs left containers behind:\nbefore %q\nafter %q", before, after)
		}
	})

	t.Run("Streams", func(t *testing.T) {
		cid := e.ok(t, ciClient, "run", "-d", "--network", "none", image, "sh", "-c", "for i in 1 2 3; do echo tick $i; sleep 0.5; done")
		defer e.direct(t, "rm", "-f", cid)
		// logs -f streams until the container exits.
		if out := e.ok(t, roClient, "logs", "-f", cid); out != "tick 1\ntick 2\ntick 3" {
			t.Errorf("logs -f: %q", out)
		}
		scid := e.ok(t, ciClient, "run", "-d", "--network", "none", image, "sleep", "60")
		defer e.direct(t, "rm", "-f", scid)
		if out := e.ok(t, roClient, "stats", "--no-stream", "--format", "{{.Container}}", scid); !strings.HasPrefix(scid, out) || out == "" {
			t.Errorf("stats: %q", out)
		}
		// A live event stream: each event arrives while the stream is open.
		ev := e.cliCommand(t, roClient, "events", "--filter", "type=container", "--filter", "event=start", "--format", "{{.Action}} {{.Actor.Attributes.name}}")
		pipe, _ := ev.StdoutPipe()
		if err := ev.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string, 16)
		go func() {
			sc := bufio.NewScanner(pipe)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		// The stream may open after the first probe's event; try again then.
		got := ""
		for i := 0; i < 5 && got == ""; i++ {
			e.ok(t, ciClient, "run", "--rm", "--name", "gh-event-probe", "--network", "none", image, "true")
			select {
			case got = <-lines:
			case <-time.After(3 * time.Second):
			}
		}
		if got != "start gh-event-probe" {
			t.Errorf("event on the open stream: %q", got)
		}
		ev.Process.Kill()
		ev.Wait()
		// events between two times: a bounded stream.
		since := time.Now().Add(-time.Minute).Unix()
		until := time.Now().Unix() + 1
		out := e.ok(t, roClient, "events", "--since", itoa(since), "--until", itoa(until), "--filter", "container="+scid)
		if !strings.Contains(out, "start") {
			t.Errorf("events: %q", out)
		}
	})

	t.Run("Build", func(t *testing.T) {
		dir := t.TempDir()
		writeFile(t, dir+"/Dockerfile", "FROM "+image+"\nCOPY msg.txt /msg.txt\nRUN cat /msg.txt\n")
		writeFile(t, dir+"/msg.txt", "built through gatehouse\n")
		r := e.cli(t, ciClient, "", "build", "--network", "none", "-t", "gh-built:1", dir)
		if r.code != 0 || !strings.Contains(r.out, "built through gatehouse") {
			t.Fatalf("build:\n%s", r)
		}
		defer e.direct(t, "rmi", "-f", "gh-built:1")
		if out := e.ok(t, ciClient, "run", "--rm", "--network", "none", "gh-built:1", "cat", "/msg.txt"); out != "built through gatehouse" {
			t.Errorf("built image: %q", out)
		}
		e.refused(t, ciClient, "no-host-namespaces", "build", "--network", "host", dir)
	})

	t.Run("ImportLoad", func(t *testing.T) {
		e.refused(t, ciClient, "default-deny", "load", "-i", imageTar)
		e.ok(t, fullClient, "import", imageTar, "gh-imported:1")
		defer e.direct(t, "rmi", "-f", "gh-imported:1", "gh-saved:1")
		e.ok(t, fullClient, "tag", "gh-imported:1", "gh-saved:1")
		saved := t.TempDir() + "/saved.tar"
		e.ok(t, fullClient, "save", "-o", saved, "gh-saved:1")
		e.direct(t, "rmi", "gh-saved:1")
		if out := e.ok(t, fullClient, "load", "-i", saved); !strings.Contains(out, "gh-saved:1") {
			t.Errorf("load: %q", out)
		}
		// full still has the body rules.
		e.refused(t, fullClient, "no-privileged", "run", "--rm", "--privileged", "--network", "none", image, "true")
	})

	t.Run("UnixSocket", func(t *testing.T) {
		var st syscall.Stat_t
		if err := syscall.Stat(e.g.unix, &st); err != nil || st.Mode&0o777 != 0o660 || st.Gid != groupGID {
			t.Errorf("socket mode %o gid %d (%v); want 0660 and gid %d", st.Mode&0o777, st.Gid, err, groupGID)
		}
		if r := e.cliUnix(t, 0, 0, false, "via unix\n", "run", "--rm", "-i", "--network", "none", image, "cat"); r.code != 0 || r.out != "via unix\n" {
			t.Errorf("uid 0 (ci) run -i over the unix socket:\n%s", r)
		}
		if r := e.cliUnix(t, roUID, roUID, true, "", "ps"); r.code != 0 {
			t.Errorf("uid %d (read-only) ps:\n%s", roUID, r)
		}
		if r := e.cliUnix(t, roUID, roUID, true, "", "run", "--rm", "--network", "none", image, "true"); r.code == 0 || !strings.Contains(r.err, "(rule default-deny)") {
			t.Errorf("uid %d (read-only) run:\n%s", roUID, r)
		}
		if r := e.cliUnix(t, 4000, groupGID, false, "", "ps"); r.code != 0 {
			t.Errorf("gid %d (read-only) ps:\n%s", groupGID, r)
		}
		if r := e.cliUnix(t, 4000, groupGID, false, "", "rm", "-f", "x"); r.code == 0 || !strings.Contains(r.err, "(rule default-deny)") {
			t.Errorf("gid %d (read-only) rm:\n%s", groupGID, r)
		}
		if r := e.cliUnix(t, strangeUID, strangeUID, true, "", "ps"); r.code == 0 || !strings.Contains(r.err, "(rule unknown-client)") {
			t.Errorf("uid %d (unknown) ps:\n%s", strangeUID, r)
		}
		// Not in the socket's group: the file mode stops it first.
		if r := e.cliUnix(t, strangeUID, strangeUID, false, "", "ps"); r.code == 0 || !strings.Contains(r.err, "permission denied") {
			t.Errorf("uid %d outside the socket's group:\n%s", strangeUID, r)
		}
	})

	t.Run("Certificates", func(t *testing.T) {
		e.refused(t, stranger, "unknown-client", "ps")
		if r := e.cli(t, rogue, "", "ps"); r.code == 0 {
			t.Errorf("a certificate from another CA was accepted:\n%s", r)
		}
		if c, err := e.tlsConn(t, ""); err == nil {
			// TLS 1.3 reports a missing client certificate on first read.
			c.Write([]byte("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"))
			buf := make([]byte, 64)
			if n, err := c.Read(buf); err == nil {
				t.Errorf("no client certificate: got %q", buf[:n])
			}
			c.Close()
		}
		if c, err := e.tlsConn(t, rogue); err == nil {
			c.Write([]byte("GET /_ping HTTP/1.1\r\nHost: x\r\n\r\n"))
			buf := make([]byte, 64)
			if n, err := c.Read(buf); err == nil {
				t.Errorf("rogue certificate: got %q", buf[:n])
			}
			c.Close()
		}
	})

	t.Run("Audit", func(t *testing.T) {
		e.refused(t, ciClient, "no-privileged", "run", "--rm", "--privileged", "--network", "none", image, "true")
		var deny, allow bool
		for _, r := range e.g.audit(t) {
			if r.Service != "docker" || r.Time.IsZero() {
				t.Fatalf("bad record %+v", r)
			}
			if r.Identity == ciClient && r.Method == "POST" && r.Endpoint == "/containers/create" {
				switch {
				case r.Decision == "deny" && r.Rule == "no-privileged" && r.Status == 403:
					deny = true
				case r.Decision == "allow" && r.Rule == "ci: POST /containers/create" && r.Status == 201:
					allow = true
				}
			}
		}
		if !deny || !allow {
			t.Errorf("audit lacks the ci client's create records (deny %v, allow %v)", deny, allow)
		}
		// The file is serve's hash-chained audit log: gatehouse audit verify
		// accepts it, and it holds the same lines as standard output.
		out, err := exec.Command(gatehouseBin, "audit", "verify", filepath.Join(e.tmp, "audit.log")).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "ok: ") {
			t.Errorf("audit verify: %v\n%s", err, out)
		}
		if recs := e.g.audit(t); recs[len(recs)-1].Hash == "" || recs[0].Seq != 1 {
			t.Errorf("stdout records are not chained: first %+v", recs[0])
		}
	})
}
