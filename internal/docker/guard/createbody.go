package guard

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
)

// createBody is what gatehouse reads of a containers/create body for the
// audit record and the owner checks. It is decoded with encoding/json, as
// dockerd decodes it: keys match case-insensitively and the last duplicate
// wins (the body rules have refused bodies that dockerd could read
// otherwise).
type createBody struct {
	Image            string
	User             string
	HostConfig       *hostConfig
	NetworkingConfig struct {
		EndpointsConfig map[string]json.RawMessage
	}
	// dockerd 20.10 still reads HostConfig fields at the top level when
	// there is no HostConfig key.
	hostConfig
}

type hostConfig struct {
	Binds  []string
	Mounts []struct {
		Type, Source, Target string
		ReadOnly             bool
		// Labels of the volume dockerd creates for the mount.
		VolumeOptions *struct{ Labels map[string]string }
	}
	Links        []string
	NetworkMode  string
	Privileged   bool
	CapAdd       strSlice
	PidMode      string
	IpcMode      string
	UTSMode      string
	UsernsMode   string
	CgroupnsMode string
	SecurityOpt  []string
	Devices      []struct{ PathOnHost string }
	LogConfig    struct {
		Type   string
		Config map[string]string
	}
}

// strSlice is dockerd's strslice.StrSlice: a list of strings, or one string.
type strSlice []string

func (s *strSlice) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = strSlice{one}
		return nil
	}
	return json.Unmarshal(b, (*[]string)(s))
}

// host returns the HostConfig dockerd applies.
func (b *createBody) host() *hostConfig {
	if b.HostConfig != nil {
		return b.HostConfig
	}
	return &b.hostConfig
}

func parseCreate(body []byte) (*createBody, error) {
	var b createBody
	if err := json.Unmarshal(body, &b); err != nil {
		return nil, err
	}
	return &b, nil
}

// namedVolumes lists the named volumes a container would mount.
func (hc *hostConfig) namedVolumes() []string {
	var out []string
	for _, b := range hc.Binds {
		src, _, ok := strings.Cut(b, ":")
		if ok && src != "" && !strings.HasPrefix(src, "/") {
			out = append(out, src)
		}
	}
	for _, m := range hc.Mounts {
		if m.Type == "volume" && m.Source != "" {
			out = append(out, m.Source)
		}
	}
	return out
}

// networks lists the networks a container would join, by the names or ids
// the client gave; the built-in ones are left out.
func (b *createBody) networks() []string {
	var out []string
	if m := b.host().NetworkMode; !builtinNetwork(m) {
		out = append(out, m)
	}
	for n := range b.NetworkingConfig.EndpointsConfig {
		if !builtinNetwork(n) {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func builtinNetwork(n string) bool {
	switch n {
	case "", "default", "none", "bridge", "host":
		return true
	}
	return strings.HasPrefix(n, "container:")
}

// auditCreate says what a create asked for, for the audit record; nil when
// the body does not decode (the request is then refused or was forwarded
// by an unrestricted profile unread).
func auditCreate(body []byte) *audit.DockerCreate {
	b, err := parseCreate(body)
	if err != nil {
		return &audit.DockerCreate{Unparsed: clip(err.Error(), 200)}
	}
	hc := b.host()
	a := &audit.DockerCreate{
		Image:       clip(b.Image, 256),
		User:        clip(b.User, 64),
		Binds:       clipAll(hc.Binds),
		NetworkMode: clip(hc.NetworkMode, 128),
		Networks:    clipAll(b.networks()),
		LogDriver:   clip(hc.LogConfig.Type, 64),
		Privileged:  hc.Privileged,
		CapAdd:      clipAll([]string(hc.CapAdd)),
		SecurityOpt: clipAll(hc.SecurityOpt),
	}
	for _, m := range hc.Mounts {
		s := m.Type + ":" + m.Source + ":" + m.Target
		if m.ReadOnly {
			s += ":ro"
		}
		a.Mounts = append(a.Mounts, clip(s, 512))
	}
	for k, v := range hc.LogConfig.Config {
		a.LogOptions = append(a.LogOptions, clip(k+"="+v, 256))
	}
	sort.Strings(a.LogOptions)
	for _, ns := range [][2]string{{"pid", hc.PidMode}, {"ipc", hc.IpcMode}, {"uts", hc.UTSMode}, {"userns", hc.UsernsMode}, {"cgroupns", hc.CgroupnsMode}} {
		if ns[1] != "" {
			a.Namespaces = append(a.Namespaces, clip(ns[0]+"="+ns[1], 128))
		}
	}
	for _, d := range hc.Devices {
		a.Devices = append(a.Devices, clip(d.PathOnHost, 256))
	}
	for _, l := range [][]string{a.Binds, a.Mounts, a.CapAdd, a.SecurityOpt, a.Devices, a.LogOptions} {
		if len(l) > maxAuditList {
			return &audit.DockerCreate{Unparsed: fmt.Sprintf("more than %d entries in a list", maxAuditList)}
		}
	}
	return a
}

// maxAuditList bounds what one audit line holds.
const maxAuditList = 256

// auditExec says what an exec create asked for.
func auditExec(body []byte) *audit.DockerCreate {
	var x struct {
		User       string
		Privileged bool
	}
	if err := json.Unmarshal(body, &x); err != nil {
		return &audit.DockerCreate{Unparsed: clip(err.Error(), 200)}
	}
	return &audit.DockerCreate{User: clip(x.User, 64), Privileged: x.Privileged}
}

func clipAll(l []string) []string {
	var out []string
	for _, s := range l {
		out = append(out, clip(s, 512))
	}
	return out
}
