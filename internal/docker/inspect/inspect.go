// Package inspect holds the body rules of gatehouse docker: checks on the
// JSON bodies and query parameters of the calls that can hand out the host
// (privileged containers, host namespaces, capabilities, devices, host
// mounts, privileged exec), applied even where a profile allows the
// endpoint. Bodies are parsed the way dockerd parses them, and anything that
// dockerd could read differently is refused.
package inspect

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
)

// DefaultMaxBody is the largest inspected body: dockerd's create and exec
// bodies are a few KiB; a larger one is refused, never passed on unread.
const DefaultMaxBody = 1 << 20

// An Inspector checks the dangerous calls.
type Inspector struct {
	binds      *Allowlist
	maxBody    int64
	volumes    VolumeLookup
	containers ContainerLookup
}

// A VolumeLookup asks dockerd about an existing named volume: its driver and
// driver options, or found false when there is none (dockerd then creates a
// plain local one).
type VolumeLookup func(ctx context.Context, name string) (driver string, options map[string]string, found bool, err error)

// WithVolumeLookup makes the inspector check named volumes that containers
// mount: one created with driver options (o=bind,device=/ by an
// administrator, say) reaches the host's files like a bind mount. Without a
// lookup, named volumes pass.
func (in *Inspector) WithVolumeLookup(f VolumeLookup) *Inspector {
	in.volumes = f
	return in
}

// checkNamedVolume refuses mounting an existing volume that has a driver
// other than local or any driver options.
func (in *Inspector) checkNamedVolume(ctx context.Context, name string) *Violation {
	if in.volumes == nil {
		return nil
	}
	driver, opts, found, err := in.volumes(ctx, name)
	if err != nil {
		return deny("no-volume-driver", "cannot check volume %q: %v", name, err)
	}
	if found && ((driver != "" && driver != "local") || len(opts) > 0) {
		return deny("no-volume-driver", "volume %q has driver %q or driver options, which can mount host paths", name, driver)
	}
	return nil
}

// New returns an Inspector; binds lists the host directories that
// containers may bind-mount, maxBody the largest body it reads (0 for
// DefaultMaxBody).
func New(binds *Allowlist, maxBody int64) *Inspector {
	if maxBody <= 0 {
		maxBody = DefaultMaxBody
	}
	if binds == nil {
		binds = &Allowlist{}
	}
	return &Inspector{binds: binds, maxBody: maxBody}
}

// MaxBody is the largest body Check accepts.
func (in *Inspector) MaxBody() int64 { return in.maxBody }

// A Violation is a refused request: the body rule and what it saw.
type Violation struct {
	Rule   string // e.g. "no-privileged"
	Reason string
}

func (v *Violation) Error() string { return v.Reason + " (rule " + v.Rule + ")" }

func deny(rule, format string, args ...any) *Violation {
	return &Violation{Rule: rule, Reason: fmt.Sprintf(format, args...)}
}

// Endpoints whose body or query the inspector reads.
var (
	containerCreate  = "POST /containers/create"
	containerUpdate  = "POST /containers/{id}/update"
	containerStart   = "POST /containers/{id}/start"
	containerRestart = "POST /containers/{id}/restart"
	containerUnpause = "POST /containers/{id}/unpause"
	containerArchive = "PUT /containers/{id}/archive"
	execCreate       = "POST /containers/{id}/exec"
	volumeCreate     = "POST /volumes/create"
	networkCreate    = "POST /networks/create"
	imageBuild       = "POST /build"
	imageCreate      = "POST /images/create"
	imagePush        = "POST /images/{name}/push"
	imageSearch      = "GET /images/search"
	distribution     = "GET /distribution/{name}/json"
	registryLogin    = "POST /auth"
)

// A Scope is what a client's profile widens or narrows in the body rules.
type Scope struct {
	// Registries are the registry hosts dockerd may reach for the client
	// (pulls, pushes, logins, FROM in builds); none means DefaultRegistries.
	Registries []string
	// LogDrivers are the log drivers its containers may use; none means
	// DefaultLogDrivers.
	LogDrivers []string
	// Import allows images/create with fromSrc=- (an uploaded image, as
	// images/load is).
	Import bool
}

// Defaults of a Scope.
var (
	DefaultRegistries = []string{"docker.io"}
	DefaultLogDrivers = []string{"json-file", "local"}
)

func (s Scope) registries() []string {
	if len(s.Registries) == 0 {
		return DefaultRegistries
	}
	return s.Registries
}

func (s Scope) logDrivers() []string {
	if len(s.LogDrivers) == 0 {
		return DefaultLogDrivers
	}
	return s.LogDrivers
}

// A Request is what the body rules look at.
type Request struct {
	Endpoint api.Endpoint
	Path     string // normalised, without the version prefix: /containers/abc/start
	Query    url.Values
	Body     []byte // nil unless ReadsBody
	Scope    Scope
}

// ReadsBody reports whether Check needs the request body of endpoint e.
func (in *Inspector) ReadsBody(e api.Endpoint) bool {
	switch e.String() {
	case containerCreate, containerUpdate, containerStart, execCreate, volumeCreate, networkCreate, registryLogin:
		return true
	}
	return false
}

// Check applies the body rules to r. It returns nil when the request may
// pass. A build's context is checked as it streams (BuildContext).
func (in *Inspector) Check(ctx context.Context, r Request) *Violation {
	switch r.Endpoint.String() {
	case imageBuild:
		return checkBuild(r.Query)
	case imageCreate:
		return checkImageCreate(r.Query, r.Scope)
	case imagePush:
		name := strings.TrimSuffix(strings.TrimPrefix(r.Path, "/images/"), "/push")
		return checkRegistry(name, r.Scope, "push to")
	case imageSearch:
		if v := single(r.Query, "term"); v != nil {
			return v
		}
		return checkRegistry(r.Query.Get("term"), r.Scope, "search on")
	case distribution:
		name := strings.TrimSuffix(strings.TrimPrefix(r.Path, "/distribution/"), "/json")
		return checkRegistry(name, r.Scope, "look up on")
	case containerRestart, containerUnpause:
		return in.checkContainerBinds(ctx, containerID(r.Path))
	case containerArchive:
		return in.checkArchiveTarget(ctx, containerID(r.Path))
	}
	if !in.ReadsBody(r.Endpoint) {
		return nil
	}
	o, err := parseBody(r.Body)
	if err != nil {
		return deny("strict-json", "request body refused: %v", err)
	}
	switch r.Endpoint.String() {
	case containerCreate:
		hc, ok := o.obj("HostConfig")
		if !ok {
			return deny("strict-json", "HostConfig is not an object")
		}
		if v := in.checkHostConfig(ctx, hc, r.Scope); v != nil {
			return v
		}
		// dockerd still decodes HostConfig fields at the top level of the
		// body (a deprecated embedded struct) and uses them when there is
		// no HostConfig key, so they get the same checks.
		return in.checkHostConfig(ctx, o, r.Scope)
	case containerStart:
		// Before API 1.24 a start body was a HostConfig, which dockerd 20.10
		// still applies; nothing the docker CLI sends today has one.
		if len(o) > 0 {
			return deny("no-start-body", "a body on container start (a HostConfig of old API versions) is not allowed")
		}
		return in.checkContainerBinds(ctx, containerID(r.Path))
	case networkCreate:
		return checkNetworkCreate(o)
	case registryLogin:
		return checkLogin(o, r.Scope)
	case containerUpdate:
		// An update carries Resources, which include devices and cgroups.
		return checkResources(o)
	case execCreate:
		if set(o.get("Privileged")) {
			return deny("no-privileged", "exec with Privileged is not allowed")
		}
	case volumeCreate:
		return checkVolumeDriver(o.get("Driver"), o.get("DriverOpts"), "volume")
	}
	return nil
}

// set reports whether a JSON value is anything but absent, null, false, 0,
// "" or empty: any such value asks dockerd for something, and a value of the
// wrong type is refused as if set, since dockerd would refuse it too.
func set(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case string:
		return v != ""
	case json.Number:
		return v.String() != "0"
	case []any:
		return len(v) > 0
	case object:
		return len(v) > 0
	}
	return true
}

// str returns a string field; ok is false when it is set to a non-string.
func str(v any) (string, bool) {
	switch v := v.(type) {
	case nil:
		return "", true
	case string:
		return v, true
	}
	return "", false
}

// strList returns a list of strings; ok is false for any other shape.
func strList(v any) ([]string, bool) {
	if v == nil {
		return nil, true
	}
	a, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, len(a))
	for i, x := range a {
		if out[i], ok = x.(string); !ok {
			return nil, false
		}
	}
	return out, true
}

func (in *Inspector) checkHostConfig(ctx context.Context, hc object, scope Scope) *Violation {
	if hc == nil {
		return nil
	}
	if v := checkLogConfig(hc, scope); v != nil {
		return v
	}
	if set(hc.get("Privileged")) {
		return deny("no-privileged", "privileged containers are not allowed")
	}
	for _, f := range []string{"PidMode", "IpcMode", "NetworkMode", "UTSMode", "UsernsMode", "CgroupnsMode", "Cgroup"} {
		mode, ok := str(hc.get(f))
		if !ok {
			return deny("no-host-namespaces", "HostConfig.%s is not a string", f)
		}
		if mode == "host" || strings.HasPrefix(mode, "container:") || strings.HasPrefix(mode, "ns:") {
			return deny("no-host-namespaces", "HostConfig.%s %q shares a namespace of the host or another container", f, mode)
		}
	}
	for _, f := range []string{"CapAdd", "Capabilities"} {
		if set(hc.get(f)) {
			return deny("no-cap-add", "adding capabilities (HostConfig.%s) is not allowed", f)
		}
	}
	opts, ok := strList(hc.get("SecurityOpt"))
	if !ok {
		return deny("no-security-opt", "HostConfig.SecurityOpt is not a list of strings")
	}
	for _, o := range opts {
		switch strings.ReplaceAll(o, ":", "=") {
		case "no-new-privileges", "no-new-privileges=true":
		default:
			return deny("no-security-opt", "security option %q is not allowed (seccomp, apparmor and label options can switch confinement off)", o)
		}
	}
	for _, f := range []string{"MaskedPaths", "ReadonlyPaths"} {
		if hc.get(f) != nil {
			return deny("no-security-opt", "HostConfig.%s replaces the paths dockerd hides from containers", f)
		}
	}
	if d, ok := str(hc.get("VolumeDriver")); !ok || (d != "" && d != "local") {
		return deny("no-volume-driver", "volume driver %v is not allowed", hc.get("VolumeDriver"))
	}
	if rt, ok := str(hc.get("Runtime")); !ok || (rt != "" && rt != "runc") {
		return deny("no-runtime", "container runtime %v is not allowed", hc.get("Runtime"))
	}
	for _, f := range []string{"Sysctls", "VolumesFrom"} {
		if set(hc.get(f)) {
			return deny("no-"+strings.ToLower(f), "HostConfig.%s is not allowed", f)
		}
	}
	if v := checkResources(hc); v != nil {
		return v
	}
	binds, ok := strList(hc.get("Binds"))
	if !ok {
		return deny("bind-allowlist", "HostConfig.Binds is not a list of strings")
	}
	for _, b := range binds {
		if v := in.checkBind(ctx, b); v != nil {
			return v
		}
	}
	mounts := hc.get("Mounts")
	if mounts == nil {
		return nil
	}
	list, ok := mounts.([]any)
	if !ok {
		return deny("bind-allowlist", "HostConfig.Mounts is not a list")
	}
	for _, m := range list {
		mo, ok := m.(object)
		if !ok {
			return deny("bind-allowlist", "HostConfig.Mounts holds a non-object")
		}
		if v := in.checkMount(ctx, mo); v != nil {
			return v
		}
	}
	return nil
}

// checkResources covers the Resources fields of HostConfig (and of an
// update body) that reach devices and cgroups of the host.
func checkResources(o object) *Violation {
	for _, f := range []string{"Devices", "DeviceRequests", "DeviceCgroupRules"} {
		if set(o.get(f)) {
			return deny("no-devices", "host devices (%s) are not allowed", f)
		}
	}
	if set(o.get("CgroupParent")) {
		return deny("no-cgroup-parent", "CgroupParent is not allowed")
	}
	// A container the OOM killer spares makes it kill the host's own
	// processes (dockerd, gatehouse) when memory runs out.
	if set(o.get("OomKillDisable")) {
		return deny("no-oom-protection", "OomKillDisable is not allowed")
	}
	if n, ok := o.get("OomScoreAdj").(json.Number); (o.get("OomScoreAdj") != nil && !ok) || strings.HasPrefix(n.String(), "-") {
		return deny("no-oom-protection", "a negative or non-numeric OomScoreAdj is not allowed")
	}
	return nil
}

// checkBind checks one HostConfig.Binds entry, "source:target[:options]".
// A source that is an absolute path is a host directory and must be in the
// allowlist; otherwise it is a named volume.
func (in *Inspector) checkBind(ctx context.Context, b string) *Violation {
	parts := strings.Split(b, ":")
	if len(parts) == 1 {
		return nil // an anonymous volume at a container path
	}
	if len(parts) > 3 {
		return deny("bind-allowlist", "bind %q has more than three ':'-separated parts", b)
	}
	src := parts[0]
	if strings.HasPrefix(src, "/") {
		readOnly := false
		if len(parts) == 3 {
			for _, o := range strings.Split(parts[2], ",") {
				switch o {
				case "ro":
					readOnly = true
				case "rw":
					return deny("bind-allowlist", "bind %q: give ro or nothing, not rw", b)
				}
			}
		}
		if err := in.binds.Check(src, readOnly); err != nil {
			return deny("bind-allowlist", "bind mount of host path %q refused: %v", src, err)
		}
		return nil
	}
	if !validVolumeName(src) {
		return deny("bind-allowlist", "bind source %q is neither an absolute host path nor a volume name", src)
	}
	return in.checkNamedVolume(ctx, src)
}

// validVolumeName is dockerd's rule for local volume names.
func validVolumeName(s string) bool {
	if len(s) < 2 {
		return false
	}
	for i, c := range s {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || (c != '_' && c != '.' && c != '-')) {
			return false
		}
	}
	return true
}

func (in *Inspector) checkMount(ctx context.Context, m object) *Violation {
	typ, ok := str(m.get("Type"))
	if !ok {
		return deny("bind-allowlist", "mount Type is not a string")
	}
	src, ok := str(m.get("Source"))
	if !ok {
		return deny("bind-allowlist", "mount Source is not a string")
	}
	switch typ {
	case "bind":
		bo, ok := m.obj("BindOptions")
		if !ok {
			return deny("bind-allowlist", "mount BindOptions is not an object")
		}
		// A read-only bind whose submounts stay writable, or whose
		// missing source dockerd creates at start, undoes the rules.
		for _, f := range []string{"ReadOnlyNonRecursive", "CreateMountpoint"} {
			if set(bo.get(f)) {
				return deny("bind-allowlist", "mount BindOptions.%s is not allowed", f)
			}
		}
		ro := m.get("ReadOnly")
		if _, isBool := ro.(bool); ro != nil && !isBool {
			return deny("bind-allowlist", "mount ReadOnly is not a boolean")
		}
		if err := in.binds.Check(src, set(ro)); err != nil {
			return deny("bind-allowlist", "bind mount of host path %q refused: %v", src, err)
		}
	case "volume":
		vo, ok := m.obj("VolumeOptions")
		if !ok {
			return deny("bind-allowlist", "mount VolumeOptions is not an object")
		}
		dc, ok := vo.obj("DriverConfig")
		if !ok {
			return deny("bind-allowlist", "mount DriverConfig is not an object")
		}
		if v := checkVolumeDriver(dc.get("Name"), dc.get("Options"), "mount"); v != nil {
			return v
		}
		if src != "" {
			if !validVolumeName(src) {
				return deny("bind-allowlist", "volume name %q is not valid", src)
			}
			return in.checkNamedVolume(ctx, src)
		}
	case "tmpfs":
	default:
		return deny("bind-allowlist", "mount type %q is not allowed", typ)
	}
	return nil
}

// checkVolumeDriver refuses driver options for volumes: the local driver's
// type/o/device options mount any host path or device (o=bind,device=/).
func checkVolumeDriver(driver, opts any, what string) *Violation {
	if d, ok := str(driver); !ok || (d != "" && d != "local") {
		return deny("no-volume-driver", "%s volume driver %v is not allowed", what, driver)
	}
	if set(opts) {
		return deny("no-volume-driver", "%s volume driver options are not allowed (they can mount host paths)", what)
	}
	return nil
}

// checkBuild refuses builds whose steps would run in the host's network or a
// chosen cgroup, a remote context, which dockerd would fetch itself, and
// BuildKit builds, whose Dockerfile comes over a session gatehouse does not
// see. The context itself is checked as it streams (BuildContext).
func checkBuild(q url.Values) *Violation {
	if v := single(q, "networkmode", "cgroupparent", "remote", "version", "dockerfile"); v != nil {
		return v
	}
	if m := q.Get("networkmode"); m == "host" || strings.HasPrefix(m, "container:") {
		return deny("no-host-namespaces", "build with network mode %q is not allowed", m)
	}
	if q.Get("cgroupparent") != "" {
		return deny("no-cgroup-parent", "build with a cgroup parent is not allowed")
	}
	if q.Get("remote") != "" {
		return deny("no-remote-fetch", "a remote build context makes dockerd fetch a URL; send the context instead")
	}
	if v := q.Get("version"); v != "" && v != "1" {
		return deny("no-remote-fetch", "BuildKit builds (version=%s) read the Dockerfile over a session gatehouse cannot check; use the classic builder (DOCKER_BUILDKIT=0)", v)
	}
	return nil
}

// checkImageCreate refuses an import from a URL (fromSrc other than "-"),
// which makes dockerd fetch it, an uploaded import unless the profile may
// load images, and a pull from a registry the profile does not name.
func checkImageCreate(q url.Values, scope Scope) *Violation {
	if v := single(q, "fromSrc", "fromImage"); v != nil {
		return v
	}
	if _, ok := q["fromSrc"]; ok {
		switch s := q.Get("fromSrc"); {
		case s != "-":
			return deny("no-remote-fetch", "importing from a URL makes dockerd fetch it; upload the archive instead (fromSrc=-)")
		case !scope.Import:
			return deny("no-import", "importing an image is not allowed for this profile (it needs a rule that allows POST /images/load)")
		}
		return nil
	}
	return checkRegistry(q.Get("fromImage"), scope, "pull from")
}

// single refuses a query that gives a checked parameter twice.
func single(q url.Values, names ...string) *Violation {
	for _, n := range names {
		if len(q[n]) > 1 {
			return deny("strict-query", "query parameter %q is given more than once", n)
		}
	}
	return nil
}
