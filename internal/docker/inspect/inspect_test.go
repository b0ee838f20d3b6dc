package inspect

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
)

func endpoint(t testing.TB, method, path string) api.Endpoint {
	t.Helper()
	e, err := api.Lookup(method, path)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func newInspector(t *testing.T) (*Inspector, string) {
	t.Helper()
	dir := t.TempDir()
	allowed := filepath.Join(dir, "cache")
	os.Mkdir(allowed, 0o755)
	os.Mkdir(filepath.Join(allowed, "sub"), 0o755)
	os.Mkdir(filepath.Join(dir, "secret"), 0o755)
	os.Symlink(filepath.Join(dir, "secret"), filepath.Join(allowed, "escape"))
	os.Symlink("/", filepath.Join(allowed, "root"))
	os.Symlink(filepath.Join(dir, "nowhere"), filepath.Join(allowed, "dangling"))
	a, err := NewAllowlist([]string{allowed}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return New(a, 0), allowed
}

func TestContainerCreate(t *testing.T) {
	in, allowed := newInspector(t)
	create := endpoint(t, "POST", "/containers/create")
	ok := []string{
		``, `{}`, `null`, `{"Image":"bb","Cmd":["sh"]}`,
		`{"HostConfig":null}`,
		`{"HostConfig":{"Privileged":false,"NetworkMode":"none","IpcMode":"private","PidMode":"","CapAdd":null,"CapDrop":["ALL"],"Devices":[],"Binds":null}}`,
		`{"HostConfig":{"Binds":["` + allowed + `:/cache:ro","` + allowed + `/sub:/x:ro,z","myvol:/data","/anon"]}}`,
		`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"` + allowed + `","Target":"/c","ReadOnly":true},{"Type":"volume","Source":"v1","Target":"/v"},{"Type":"tmpfs","Target":"/t"}]}}`,
		`{"HostConfig":{"SecurityOpt":["no-new-privileges"]}}`,
		`{"HostConfig":{"Runtime":"runc","NetworkMode":"default"}}`,
		`{"Labels":{"a":"1"},"HostConfig":{"NetworkMode":"bridge"}}`,
	}
	for _, body := range ok {
		if v := in.Check(context.Background(), Request{Endpoint: create, Body: []byte(body)}); v != nil {
			t.Errorf("refused %s: %v", body, v)
		}
	}
	refused := map[string]string{
		`{"HostConfig":{"Privileged":true}}`:                                     "no-privileged",
		`{"HostConfig":{"privileged":true}}`:                                     "no-privileged",
		`{"hostconfig":{"PRIVILEGED":true}}`:                                     "no-privileged",
		`{"HostConfig":{"Privileged":"yes"}}`:                                    "no-privileged",
		`{"HostConfig":{"Privileged":1}}`:                                        "no-privileged",
		`{"HostConfig":{"\u0050rivileged":true}}`:                                "no-privileged",
		`{"HostConfig":{"PidMode":"host"}}`:                                      "no-host-namespaces",
		`{"HostConfig":{"pidmode":"host"}}`:                                      "no-host-namespaces",
		`{"HostConfig":{"IpcMode":"host"}}`:                                      "no-host-namespaces",
		`{"HostConfig":{"NetworkMode":"host"}}`:                                  "no-host-namespaces",
		`{"HostConfig":{"NetworkMode":"container:abc"}}`:                         "no-host-namespaces",
		`{"HostConfig":{"UTSMode":"host"}}`:                                      "no-host-namespaces",
		`{"HostConfig":{"UsernsMode":"host"}}`:                                   "no-host-namespaces",
		`{"HostConfig":{"CgroupnsMode":"host"}}`:                                 "no-host-namespaces",
		`{"HostConfig":{"PidMode":7}}`:                                           "no-host-namespaces",
		`{"HostConfig":{"CapAdd":["SYS_ADMIN"]}}`:                                "no-cap-add",
		`{"HostConfig":{"CAPADD":["SYS_ADMIN"]}}`:                                "no-cap-add",
		`{"HostConfig":{"CapAdd":"ALL"}}`:                                        "no-cap-add",
		`{"HostConfig":{"Capabilities":["CAP_SYS_ADMIN"]}}`:                      "no-cap-add",
		`{"HostConfig":{"Devices":[{"PathOnHost":"/dev/sda"}]}}`:                 "no-devices",
		`{"HostConfig":{"DeviceRequests":[{"Count":-1}]}}`:                       "no-devices",
		`{"HostConfig":{"DeviceCgroupRules":["a *:* rwm"]}}`:                     "no-devices",
		`{"HostConfig":{"CgroupParent":"/"}}`:                                    "no-cgroup-parent",
		`{"HostConfig":{"SecurityOpt":["seccomp=unconfined"]}}`:                  "no-security-opt",
		`{"HostConfig":{"SecurityOpt":["apparmor:unconfined"]}}`:                 "no-security-opt",
		`{"HostConfig":{"SecurityOpt":["label=disable"]}}`:                       "no-security-opt",
		`{"HostConfig":{"SecurityOpt":["seccomp={}"]}}`:                          "no-security-opt",
		`{"HostConfig":{"MaskedPaths":[]}}`:                                      "no-security-opt",
		`{"HostConfig":{"ReadonlyPaths":[]}}`:                                    "no-security-opt",
		`{"HostConfig":{"Runtime":"kata-host"}}`:                                 "no-runtime",
		`{"HostConfig":{"Sysctls":{"kernel.x":"1"}}}`:                            "no-sysctls",
		`{"HostConfig":{"VolumesFrom":["privileged-one"]}}`:                      "no-volumesfrom",
		`{"HostConfig":{"Binds":["/:/host"]}}`:                                   "bind-allowlist",
		`{"HostConfig":{"Binds":["/etc:/etc:ro"]}}`:                              "bind-allowlist",
		`{"HostConfig":{"Bindſ":["/:/host"]}}`:                                   "bind-allowlist",
		`{"HostConfig":{"Binds":["` + allowed + `/escape:/x"]}}`:                 "bind-allowlist",
		`{"HostConfig":{"Binds":["` + allowed + `/root/etc:/x"]}}`:               "bind-allowlist",
		`{"HostConfig":{"Binds":["` + allowed + `/dangling:/x"]}}`:               "bind-allowlist",
		`{"HostConfig":{"Binds":["` + allowed + `/../secret:/x"]}}`:              "bind-allowlist",
		`{"HostConfig":{"Binds":["` + allowed + `/escape/..:/x"]}}`:              "bind-allowlist",
		`{"HostConfig":{"Binds":["` + allowed + `x:/x"]}}`:                       "bind-allowlist",
		`{"HostConfig":{"Binds":["./rel:/x"]}}`:                                  "bind-allowlist",
		`{"HostConfig":{"Binds":"/:/host"}}`:                                     "bind-allowlist",
		`{"HostConfig":{"Mounts":[{"Type":"bind","Source":"/","Target":"/h"}]}}`: "bind-allowlist",
		`{"HostConfig":{"Mounts":[{"type":"BIND","Source":"/","Target":"/h"}]}}`: "bind-allowlist",
		`{"HostConfig":{"Mounts":[{"Type":"volume","Target":"/h","VolumeOptions":{"DriverConfig":{"Options":{"type":"none","o":"bind","device":"/"}}}}]}}`: "no-volume-driver",
		`{"HostConfig":{"Mounts":[{"Type":"npipe","Source":"x","Target":"/h"}]}}`:                                                                          "bind-allowlist",
		// The deprecated top-level HostConfig fields dockerd still reads:
		`{"Image":"bb","Privileged":true}`:                     "no-privileged",
		`{"Image":"bb","Binds":["/:/host"]}`:                   "bind-allowlist",
		`{"Image":"bb","PidMode":"host","HostConfig":{}}`:      "no-host-namespaces",
		`{"Image":"bb","VolumeDriver":"evil","HostConfig":{}}`: "no-volume-driver",
		`{"HostConfig":{"VolumeDriver":"sshfs"}}`:              "no-volume-driver",
		// Parsed differently by a naive guard than by dockerd:
		`{"HostConfig":{"Privileged":false},"hostconfig":{"Privileged":true}}`:   "strict-json",
		`{"HostConfig":{"Privileged":false,"Privileged":true}}`:                  "strict-json",
		`{"HostConfig":{"Binds":[]},"HostConfig":{"Binds":["/:/h"]}}`:            "strict-json",
		`{"HostConfig":{"Privileged":false}} {"HostConfig":{"Privileged":true}}`: "strict-json",
		`{"HostConfig":{}}x`:    "strict-json",
		`{"HostConfig":{"Privi`: "strict-json",
		`[]`:                    "strict-json",
		`{"HostConfig":[]}`:     "strict-json",
		strings.Repeat(`{"a":`, 100) + `1` + strings.Repeat(`}`, 100): "strict-json",
	}
	for body, rule := range refused {
		v := in.Check(context.Background(), Request{Endpoint: create, Body: []byte(body)})
		if v == nil || v.Rule != rule {
			t.Errorf("%s: got %v, want rule %s", body, v, rule)
		}
	}
}

func TestOtherEndpoints(t *testing.T) {
	in, _ := newInspector(t)
	for _, tc := range []struct {
		method, path, query, body, rule string
	}{
		{"POST", "/containers/c1/exec", "", `{"Cmd":["sh"],"AttachStdin":true}`, ""},
		{"POST", "/containers/c1/exec", "", `{"Cmd":["sh"],"Privileged":true}`, "no-privileged"},
		{"POST", "/containers/c1/exec", "", `{"privileged":true}`, "no-privileged"},
		{"POST", "/containers/c1/update", "", `{"Memory":1000000}`, ""},
		{"POST", "/containers/c1/start", "", ``, ""},
		{"POST", "/containers/c1/start", "", `{}`, ""},
		{"POST", "/containers/c1/start", "", `{"Privileged":true}`, "no-start-body"},
		{"POST", "/containers/c1/start", "", `{"Binds":["/:/h"]}`, "no-start-body"},
		{"POST", "/containers/c1/update", "", `{"Devices":[{"PathOnHost":"/dev/mem"}]}`, "no-devices"},
		{"POST", "/volumes/create", "", `{"Name":"v1"}`, ""},
		{"POST", "/volumes/create", "", `{"Name":"v1","DriverOpts":{"type":"none","o":"bind","device":"/"}}`, "no-volume-driver"},
		{"POST", "/volumes/create", "", `{"Name":"v1","Driver":"sshfs"}`, "no-volume-driver"},
		{"POST", "/build", "t=x&networkmode=default", "", ""},
		{"POST", "/build", "networkmode=host", "", "no-host-namespaces"},
		{"POST", "/build", "networkmode=bridge&networkmode=host", "", "strict-query"},
		{"POST", "/build", "cgroupparent=/x", "", "no-cgroup-parent"},
		{"POST", "/build", "remote=http://127.0.0.1/ctx.tar", "", "no-remote-fetch"},
		{"POST", "/images/create", "fromImage=busybox&tag=latest", "", ""},
		{"POST", "/images/create", "fromSrc=-&repo=bb", "", "no-import"},
		{"POST", "/images/create", "fromSrc=http://169.254.169.254/", "", "no-remote-fetch"},
		{"GET", "/containers/json", "", "", ""},
	} {
		q, _ := url.ParseQuery(tc.query)
		var body []byte
		e := endpoint(t, tc.method, tc.path)
		if in.ReadsBody(e) {
			body = []byte(tc.body)
		}
		v := in.Check(context.Background(), Request{Endpoint: e, Path: tc.path, Query: q, Body: body})
		got := ""
		if v != nil {
			got = v.Rule
		}
		if got != tc.rule {
			t.Errorf("%s %s?%s %s: got %v, want rule %q", tc.method, tc.path, tc.query, tc.body, v, tc.rule)
		}
	}
}

func TestAllowlist(t *testing.T) {
	if _, err := NewAllowlist([]string{"relative"}, nil); err == nil {
		t.Error("relative allowlist entry accepted")
	}
	if _, err := NewAllowlist([]string{"/does/not/exist/at/all"}, nil); err == nil {
		t.Error("missing allowlist entry accepted")
	}
	empty, _ := NewAllowlist(nil, nil)
	if err := empty.Check("/tmp", true); err == nil {
		t.Error("empty allowlist allowed /tmp")
	}
}

func FuzzParseBody(f *testing.F) {
	f.Add([]byte(`{"HostConfig":{"Privileged":true}}`))
	f.Add([]byte(`{"a":[1,2,{"b":null}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseBody(b) // must not panic
	})
}

func TestNamedVolumes(t *testing.T) {
	in, _ := newInspector(t)
	in.WithVolumeLookup(func(_ context.Context, name string) (string, map[string]string, bool, error) {
		switch name {
		case "plain":
			return "local", nil, true, nil
		case "hostroot":
			return "local", map[string]string{"type": "none", "o": "bind", "device": "/"}, true, nil
		case "plugin":
			return "sshfs", nil, true, nil
		case "broken":
			return "", nil, false, errors.New("daemon unreachable")
		}
		return "", nil, false, nil
	})
	create := endpoint(t, "POST", "/containers/create")
	for body, rule := range map[string]string{
		`{"HostConfig":{"Binds":["plain:/p","new-one:/n"]}}`:                              "",
		`{"HostConfig":{"Mounts":[{"Type":"volume","Source":"plain","Target":"/p"}]}}`:    "",
		`{"HostConfig":{"Binds":["hostroot:/h"]}}`:                                        "no-volume-driver",
		`{"HostConfig":{"Binds":["plugin:/h:ro"]}}`:                                       "no-volume-driver",
		`{"HostConfig":{"Binds":["broken:/h"]}}`:                                          "no-volume-driver",
		`{"HostConfig":{"Mounts":[{"Type":"volume","Source":"hostroot","Target":"/h"}]}}`: "no-volume-driver",
		`{"HostConfig":{"Mounts":[{"Type":"volume","Source":"../x","Target":"/h"}]}}`:     "bind-allowlist",
	} {
		v := in.Check(context.Background(), Request{Endpoint: create, Body: []byte(body)})
		got := ""
		if v != nil {
			got = v.Rule
		}
		if got != rule {
			t.Errorf("%s: got %v, want rule %q", body, v, rule)
		}
	}
}
