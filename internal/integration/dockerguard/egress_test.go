package dockerguard

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 14, item 1, with the real CLI: a bind source planted or swapped for a
// symlink to / between create and start (or restart) never gives a
// container the host's root.
func TestBindSymlinkSwap(t *testing.T) {
	e, writable := newBindEnv(t)

	t.Run("MissingThenPlanted", func(t *testing.T) {
		// The attack: create A with a bind of a path that does not exist
		// yet, plant ALLOWED/x -> / through a second container with a
		// read-write bind of ALLOWED (or docker cp), then start A.
		x := filepath.Join(e.allow, "x")
		e.refused(t, ciClient, "bind-allowlist", "create", "--network", "none", "-v", x+":/host", image, "ls", "/host/etc")
		e.refused(t, ciClient, "bind-allowlist", "create", "--network", "none", "-v", x+":/host:ro", image, "ls", "/host/etc")
		e.refused(t, ciClient, "bind-allowlist", "create", "--network", "none", "--mount", "type=bind,source="+x+",target=/host,readonly", image, "true")
		// No container may write into ALLOWED to plant the link...
		e.refused(t, ciClient, "bind-allowlist", "run", "--rm", "--network", "none", "-v", e.allow+":/a", image, "ln", "-s", "/", "/a/x")
		e.refused(t, ciClient, "bind-allowlist", "run", "--rm", "--network", "none", "--mount", "type=bind,source="+e.allow+",target=/a", image, "true")
		if out := e.ok(t, ciClient, "run", "--rm", "--network", "none", "-v", e.allow+":/a:ro", image, "sh", "-c", "ln -s / /a/x 2>&1; echo done"); !strings.Contains(out, "Read-only file system") {
			t.Errorf("read-only bind was writable: %q", out)
		}
		// ...nor through docker cp into a container with that bind.
		cid := e.ok(t, ciClient, "create", "--network", "none", "-v", e.allow+":/a:ro", image, "true")
		defer e.direct(t, "rm", "-f", cid)
		src := t.TempDir()
		os.Symlink("/", filepath.Join(src, "x"))
		e.refused(t, ciClient, "no-copy-into-binds", "cp", filepath.Join(src, "x"), cid+":/a/x")
		if _, err := os.Lstat(x); err == nil {
			t.Fatalf("%s was planted", x)
		}

		// A writable directory: containers may plant links in it, so no
		// path beneath it is bindable, as given or resolved.
		if r := e.ok(t, ciClient, "run", "--rm", "--network", "none", "-v", writable+":/w", image, "sh", "-c", "ln -s / /w/x && mkdir /w/d && echo planted"); r != "planted" {
			t.Fatalf("writable bind: %q", r)
		}
		e.refused(t, ciClient, "bind-allowlist", "create", "--network", "none", "-v", filepath.Join(writable, "x")+":/host:ro", image, "true")
		e.refused(t, ciClient, "bind-allowlist", "create", "--network", "none", "-v", filepath.Join(writable, "d")+":/host", image, "true")
		wid := e.ok(t, ciClient, "create", "--network", "none", "-v", writable+":/w", image, "true")
		defer e.direct(t, "rm", "-f", wid)
		e.refused(t, ciClient, "no-copy-into-binds", "cp", filepath.Join(src, "x"), wid+":/w/y")
	})

	t.Run("DirectoryReplacedThenStart", func(t *testing.T) {
		// A's bind source is checked, then replaced by a link to / before
		// start (by anything that can write there): start checks again.
		d := filepath.Join(e.allow, "d1")
		os.Mkdir(d, 0o755)
		cid := e.ok(t, ciClient, "create", "--network", "none", "-v", d+":/host:ro", image, "cat", "/host/etc/hostname")
		defer e.direct(t, "rm", "-f", cid)
		os.Remove(d)
		os.Symlink("/", d)
		e.refused(t, ciClient, "bind-allowlist", "start", "-a", cid)
	})

	t.Run("DirectoryReplacedThenRestart", func(t *testing.T) {
		d := filepath.Join(e.allow, "d2")
		os.Mkdir(d, 0o755)
		cid := e.ok(t, ciClient, "run", "-d", "--network", "none", "-v", d+":/host:ro", image, "sleep", "60")
		defer e.direct(t, "rm", "-f", cid)
		os.Remove(d)
		os.Symlink("/", d)
		e.refused(t, ciClient, "bind-allowlist", "restart", "-t", "0", cid)
		if out := e.direct(t, "exec", cid, "ls", "/host").out; strings.Contains(out, "etc") {
			t.Errorf("the container sees the host's root:\n%s", out)
		}
	})
}

// unpause checks the binds again too, for every profile with body rules
// (ci has no unpause; full has).
func TestBindRecheckOnUnpause(t *testing.T) {
	e, _ := newBindEnv(t)
	d := filepath.Join(e.allow, "d3")
	os.Mkdir(d, 0o755)
	cid := e.ok(t, fullClient, "run", "-d", "--network", "none", "-v", d+":/host:ro", image, "sleep", "60")
	defer e.direct(t, "rm", "-f", cid)
	if r := e.direct(t, "pause", cid); r.code != 0 {
		t.Skipf("this engine cannot pause containers:\n%s", r)
	}
	os.Remove(d)
	os.Symlink("/", d)
	e.refused(t, fullClient, "bind-allowlist", "unpause", cid)
	os.Remove(d)
	os.Mkdir(d, 0o755)
	e.ok(t, fullClient, "unpause", cid)
}

// Issue 14, item 2: dockerd fetches nothing on a ci client's behalf from
// where the client chose, neither in a build nor in a pull.
func TestDockerdSSRF(t *testing.T) {
	e, _ := newBindEnv(t)
	srv := newLoopbackServer(t)

	t.Run("BuildADD", func(t *testing.T) {
		for _, tc := range []struct {
			name, dockerfile string
			args             []string
		}{
			{"plain", "FROM " + image + "\nADD http://" + srv.addr + "/secret /secret\n", nil},
			{"lower-case", "from " + image + "\nadd http://" + srv.addr + "/secret /secret\n", nil},
			{"continued", "FROM " + image + "\nADD \\\n  http://" + srv.addr + "/secret \\\n  /secret\n", nil},
			{"json", "FROM " + image + "\nADD [\"http://" + srv.addr + "/secret\", \"/secret\"]\n", nil},
			{"arg", "FROM " + image + "\nARG U=http://" + srv.addr + "/secret\nADD ${U} /secret\n", nil},
			{"onbuild", "FROM " + image + "\nONBUILD ADD http://" + srv.addr + "/secret /secret\n", nil},
			{"compressed", "FROM " + image + "\nADD http://" + srv.addr + "/secret /secret\n", []string{"--compress"}},
			{"named-file", "FROM " + image + "\nADD http://" + srv.addr + "/secret /secret\n", []string{"-f", "ci/Dockerfile.ci"}},
			{"stdin-file", "FROM " + image + "\nADD http://" + srv.addr + "/secret /secret\n", []string{"-f", "-"}},
			{"from-loopback-registry", "FROM " + srv.addr + "/base\n", nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				dir := t.TempDir()
				name := "Dockerfile"
				for i, a := range tc.args {
					if a == "-f" {
						name = tc.args[i+1]
					}
				}
				stdin := ""
				if name == "-" {
					stdin, name = tc.dockerfile, "Dockerfile"
				} else {
					for i := range tc.args {
						if tc.args[i] == name {
							tc.args[i] = filepath.Join(dir, name)
						}
					}
				}
				os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
				writeFile(t, filepath.Join(dir, name), tc.dockerfile)
				writeFile(t, filepath.Join(dir, "big"), strings.Repeat("context filler\n", 20000))
				if name != "Dockerfile" {
					writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM "+image+"\n")
				}
				args := append(append([]string{"build", "--network", "none", "-t", "gh-ssrf:" + tc.name}, tc.args...), dir)
				r := e.cli(t, ciClient, stdin, args...)
				defer e.direct(t, "rmi", "-f", "gh-ssrf:"+tc.name)
				rule := "no-remote-fetch"
				if strings.HasPrefix(tc.name, "from-") {
					rule = "registry-allowlist"
				}
				if r.code == 0 || !strings.Contains(r.err, "gatehouse refused") || !strings.Contains(r.err, "(rule "+rule+")") {
					t.Errorf("build: want a refusal naming %s, got:\n%s", rule, r)
				}
			})
		}
		if n := srv.conns.Load(); n != 0 {
			t.Errorf("dockerd connected to the loopback service %d times", n)
		}
		// A harmless build still works, compressed or not, and its
		// refusals were audited as such.
		dir := t.TempDir()
		writeFile(t, dir+"/Dockerfile", "FROM "+image+"\nADD msg.txt /msg.txt\nRUN cat /msg.txt\n")
		writeFile(t, dir+"/msg.txt", "local add is fine\n")
		for _, extra := range [][]string{nil, {"--compress"}} {
			args := append(append([]string{"build", "--network", "none", "-t", "gh-ssrf-ok:1"}, extra...), dir)
			if r := e.cli(t, ciClient, "", args...); r.code != 0 || !strings.Contains(r.out, "Successfully tagged gh-ssrf-ok:1") {
				t.Errorf("build %v:\n%s", extra, r)
			}
		}
		e.direct(t, "rmi", "-f", "gh-ssrf-ok:1")
		denied := 0
		for _, rec := range e.g.audit(t) {
			if rec.Endpoint == "/build" && rec.Decision == "deny" && rec.Status == 403 {
				denied++
			}
		}
		if denied < 10 {
			t.Errorf("%d refused builds audited, want 10", denied)
		}
	})

	t.Run("PullFromLoopbackRegistry", func(t *testing.T) {
		before := srv.conns.Load()
		e.refused(t, ciClient, "registry-allowlist", "pull", srv.addr+"/x")
		e.refused(t, ciClient, "registry-allowlist", "pull", "localhost:"+strings.Split(srv.addr, ":")[1]+"/x:1")
		e.refused(t, ciClient, "registry-allowlist", "create", "--pull", "always", "--network", "none", srv.addr+"/x")
		e.direct(t, "tag", image, srv.addr+"/gh-push:1")
		defer e.direct(t, "rmi", srv.addr+"/gh-push:1")
		e.refused(t, ciClient, "registry-allowlist", "push", srv.addr+"/gh-push:1")
		if n := srv.conns.Load() - before; n != 0 {
			t.Errorf("dockerd connected to the loopback registry %d times", n)
		}
	})
}

// Issue 14, item 3: log drivers that make dockerd connect somewhere.
func TestLogDrivers(t *testing.T) {
	e, _ := newBindEnv(t)
	srv := newLoopbackServer(t)
	e.refused(t, ciClient, "log-driver", "run", "--rm", "--network", "none", "--log-driver", "syslog", "--log-opt", "syslog-address=tcp://"+srv.addr, image, "echo", "exfiltrated")
	e.refused(t, ciClient, "log-driver", "run", "--rm", "--network", "none", "--log-driver", "fluentd", "--log-opt", "fluentd-address=unix:///x.sock", image, "true")
	e.refused(t, ciClient, "log-driver", "run", "--rm", "--network", "none", "--log-driver", "gelf", "--log-opt", "gelf-address=udp://"+srv.addr, image, "true")
	e.refused(t, ciClient, "log-driver", "run", "--rm", "--network", "none", "--log-opt", "syslog-address=tcp://"+srv.addr, image, "true")
	if out := e.ok(t, ciClient, "run", "--rm", "--network", "none", "--log-driver", "json-file", "--log-opt", "max-size=1m", image, "echo", "logged"); out != "logged" {
		t.Errorf("json-file: %q", out)
	}
	if out := e.ok(t, ciClient, "run", "--rm", "--network", "none", "--log-driver", "local", image, "echo", "logged"); out != "logged" {
		t.Errorf("local: %q", out)
	}
	if n := srv.conns.Load(); n != 0 {
		t.Errorf("dockerd connected to the loopback service %d times", n)
	}
	// gatehouse matches option names case-insensitively; dockerd itself
	// refuses a case variant of a known option, so none can mean more.
	if r := e.direct(t, "create", "--network", "none", "--log-driver", "json-file", "--log-opt", "Max-Size=1m", image); r.code == 0 {
		e.direct(t, "rm", strings.TrimSpace(r.out))
		t.Errorf("dockerd accepted the log option Max-Size")
	}
}

// Issue 14, item 7: ci cannot import images, as the docs say, and the quick
// start's networks/create has body rules.
func TestDocsMatchBehaviour(t *testing.T) {
	e, _ := newBindEnv(t)
	e.refused(t, ciClient, "no-import", "import", imageTar, "gh-ci-import:1")
	if r := e.direct(t, "image", "inspect", "gh-ci-import:1"); r.code == 0 {
		e.direct(t, "rmi", "gh-ci-import:1")
		t.Error("ci imported an image")
	}
	e.ok(t, fullClient, "import", imageTar, "gh-full-import:1")
	e.direct(t, "rmi", "gh-full-import:1")

	e.refused(t, runnerClient, "network-driver", "network", "create", "-d", "macvlan", "-o", "parent=lo", "gh-macvlan")
	e.refused(t, runnerClient, "network-driver", "network", "create", "-d", "ipvlan", "-o", "parent=lo", "gh-ipvlan")
	e.refused(t, runnerClient, "network-driver", "network", "create", "-o", "com.docker.network.bridge.name=docker0", "gh-br")
	e.refused(t, runnerClient, "network-driver", "network", "create", "--subnet", "10.0.0.0/8", "gh-sub")
	e.refused(t, ciClient, "default-deny", "network", "create", "gh-ci-net")
	if r := e.cli(t, runnerClient, "", "network", "create", "gh-bridge"); r.code != 0 {
		t.Errorf("a plain bridge network:\n%s", r)
	}
	e.direct(t, "network", "rm", "gh-bridge")
	if out := e.direct(t, "network", "ls", "--format", "{{.Name}}").out; strings.Contains(out, "gh-macvlan") || strings.Contains(out, "gh-ipvlan") || strings.Contains(out, "gh-sub") {
		t.Errorf("refused networks exist:\n%s", out)
	}
}
