package inspect

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// The parts of dockerd's create body (runconfig.ContainerConfigWrapper in
// dockerd 20.10) that the body rules guard, decoded the way dockerd decodes:
// encoding/json into structs, with the deprecated HostConfig embedded at the
// top level as well as under "HostConfig".
type dockerdHostConfig struct {
	Privileged                                                  bool
	PidMode, IpcMode, NetworkMode, UTSMode, UsernsMode, Runtime string
	CapAdd, Binds, SecurityOpt, DeviceCgroupRules               []string
	Devices                                                     []struct{ PathOnHost string }
	Mounts                                                      []struct{ Type, Source string }
	LogConfig                                                   struct {
		Type   string
		Config map[string]string
	}
}

type dockerdConfig struct{ Image string }

type dockerdCreate struct {
	*dockerdConfig
	InnerHostConfig *dockerdHostConfig `json:"HostConfig,omitempty"`
	*dockerdHostConfig
}

func dangerous(hc *dockerdHostConfig) string {
	if hc == nil {
		return ""
	}
	switch {
	case hc.Privileged:
		return "privileged"
	case hc.PidMode == "host", hc.IpcMode == "host", hc.NetworkMode == "host", hc.UTSMode == "host", hc.UsernsMode == "host":
		return "host namespace"
	case len(hc.CapAdd) > 0, len(hc.Devices) > 0, len(hc.DeviceCgroupRules) > 0, len(hc.SecurityOpt) > 0:
		return "capabilities, devices or security options"
	case hc.Runtime != "" && hc.Runtime != "runc":
		return "runtime"
	case hc.LogConfig.Type != "" && hc.LogConfig.Type != "json-file" && hc.LogConfig.Type != "local":
		return "log driver " + hc.LogConfig.Type
	}
	// A case variant of a safe option ("Max-Size") is no address: the
	// log drivers refuse options they do not know by their exact name.
	for k := range hc.LogConfig.Config {
		if !slices.Contains(logOptions, strings.ToLower(k)) {
			return "log option " + k
		}
	}
	for _, b := range hc.Binds {
		// "src:dst[:mode]"; a lone path is an anonymous volume there.
		if src, _, ok := strings.Cut(b, ":"); ok && strings.HasPrefix(src, "/") {
			return "host bind " + b
		}
	}
	for _, m := range hc.Mounts {
		if m.Type == "bind" || (m.Type != "" && m.Type != "volume" && m.Type != "tmpfs") {
			return "mount " + m.Type
		}
	}
	return ""
}

// FuzzCreateDifferential: whatever the body rules let through, dockerd's own
// decoding must find nothing dangerous in (with an empty bind allowlist, no
// host path at all is allowed).
func FuzzCreateDifferential(f *testing.F) {
	for _, s := range []string{
		`{"Image":"bb","HostConfig":{"Privileged":false}}`,
		`{"Image":"bb","HostConfig":{"Privileged":false},"hostconfig":{"Privileged":true}}`,
		`{"Image":"bb","Privileged":true}`,
		`{"HostConfig":{"Bind\u017f":["/:/h"]}}`,
		`{"HostConfig":{"\u212aapAdd":["x"]}}`,
		`{"HostConfig":{"PIDMODE":"host"}}`,
		`{"HostConfig":{"Mounts":[{"TYPE":"bind","Source":"/"}]}}`,
		`{"Image":"bb","HostConfig":null,"Binds":["/:/h"]}`,
		`{"Image":"bb","HostConfig":{"NetworkMode":"none"}} {"Privileged":true}`,
		`{"HostConfig":{"LogConfig":{"Type":"syslog","Config":{"syslog-address":"tcp://127.0.0.1:1"}}}}`,
		`{"HostConfig":{"logconfig":{"type":"json-file","config":{"Max-Size":"1m"}}}}`,
	} {
		f.Add([]byte(s))
	}
	in := New(nil, 0)
	create := endpoint(f, "POST", "/containers/create")
	f.Fuzz(func(t *testing.T, body []byte) {
		if in.Check(context.Background(), Request{Endpoint: create, Body: body}) != nil {
			return // refused
		}
		var w dockerdCreate
		if err := json.NewDecoder(strings.NewReader(string(body))).Decode(&w); err != nil {
			return // dockerd refuses it too
		}
		for _, hc := range []*dockerdHostConfig{w.InnerHostConfig, w.dockerdHostConfig} {
			if d := dangerous(hc); d != "" {
				t.Fatalf("body rules passed %q, which dockerd reads as %s", body, d)
			}
		}
	})
}
