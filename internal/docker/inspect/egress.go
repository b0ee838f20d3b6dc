package inspect

import (
	"slices"
	"strings"
)

// The rules here stop clients from making dockerd, which runs as root on the
// Docker host, connect somewhere on their behalf: to a registry of their
// choosing (pulls, pushes, logins, FROM in builds), to a log collector, or
// onto the host's own network segments.

// registryOf returns the registry host of an image reference, as dockerd's
// reference parser finds it: the first path component when it has a "." or
// ":", is "localhost" or has upper case; otherwise Docker Hub.
func registryOf(ref string) string {
	i := strings.IndexByte(ref, '/')
	if i < 0 {
		return "docker.io"
	}
	d := ref[:i]
	if !strings.ContainsAny(d, ".:") && d != "localhost" && strings.ToLower(d) == d {
		return "docker.io"
	}
	return canonicalRegistry(d)
}

// canonicalRegistry lower-cases a registry host and gives Docker Hub its
// one name.
func canonicalRegistry(h string) string {
	h = strings.ToLower(h)
	if h == "index.docker.io" {
		return "docker.io"
	}
	return h
}

// checkRegistry refuses an image reference on a registry the scope does not
// name.
func checkRegistry(ref string, scope Scope, what string) *Violation {
	reg := registryOf(ref)
	for _, r := range scope.registries() {
		if canonicalRegistry(r) == reg {
			return nil
		}
	}
	return deny("registry-allowlist", "%s registry %q is not allowed for this profile (allowed: %s)", what, reg, strings.Join(scope.registries(), ", "))
}

// checkLogin refuses a login to a registry the scope does not name: dockerd
// contacts the server to check the credentials.
func checkLogin(o object, scope Scope) *Violation {
	addr, ok := str(o.get("serveraddress"))
	if !ok {
		return deny("registry-allowlist", "serveraddress is not a string")
	}
	if addr == "" {
		return nil // Docker Hub
	}
	host := addr
	if i := strings.Index(host, "://"); i >= 0 {
		host = host[i+3:]
	}
	host, _, _ = strings.Cut(host, "/")
	// Docker Hub's login address is https://index.docker.io/v1/.
	return checkRegistry(host+"/x", scope, "login to")
}

// logOptions are the log options that name no destination: sizes,
// rotation, compression and which metadata to add.
var logOptions = []string{"max-size", "max-file", "compress", "labels", "labels-regex", "env", "env-regex", "tag", "mode", "max-buffer-size"}

// checkLogConfig refuses a log driver the scope does not name and options
// other than logOptions: syslog, fluentd, gelf, splunk and the like make
// dockerd connect to the address they are given and send it what the
// container writes.
func checkLogConfig(hc object, scope Scope) *Violation {
	lc, ok := hc.obj("LogConfig")
	if !ok {
		return deny("log-driver", "HostConfig.LogConfig is not an object")
	}
	typ, ok := str(lc.get("Type"))
	if !ok {
		return deny("log-driver", "LogConfig.Type is not a string")
	}
	if typ != "" && !slices.Contains(scope.logDrivers(), typ) {
		return deny("log-driver", "log driver %q is not allowed (allowed: %s)", typ, strings.Join(scope.logDrivers(), ", "))
	}
	opts, ok := lc.obj("Config")
	if !ok {
		return deny("log-driver", "LogConfig.Config is not an object")
	}
	// Keys are folded here; dockerd matches them exactly, so a key that
	// folds to a safe one is that option or one dockerd rejects.
	for k := range opts {
		if !slices.Contains(logOptions, strings.ToLower(k)) {
			return deny("log-driver", "log option %q is not allowed (allowed: %s)", strings.ToLower(k), strings.Join(logOptions, ", "))
		}
	}
	return nil
}

// networkDrivers are the network drivers a client may create networks with:
// a bridge of its own, or a swarm overlay. macvlan and ipvlan put containers
// on the host's own network segments, and other drivers are plugins.
var networkDrivers = []string{"", "bridge", "overlay"}

// networkOptions are the driver options that choose nothing of the host's:
// bridge.name would join an existing host bridge, host_binding_ipv4 and
// gateway modes change how the host routes.
var networkOptions = []string{"com.docker.network.bridge.enable_icc", "com.docker.network.driver.mtu", "encrypted"}

// checkNetworkCreate refuses networks that reach the host's network: drivers
// other than bridge and overlay, driver options that pick host interfaces
// or routing, addresses chosen by the client (a subnet of the host's LAN
// would take its traffic), another network's configuration, and ingress.
func checkNetworkCreate(o object) *Violation {
	driver, ok := str(o.get("Driver"))
	if !ok || !slices.Contains(networkDrivers, driver) {
		return deny("network-driver", "network driver %v is not allowed (allowed: bridge, overlay)", o.get("Driver"))
	}
	opts, ok := o.obj("Options")
	if !ok {
		return deny("network-driver", "network Options is not an object")
	}
	for k := range opts {
		if !slices.Contains(networkOptions, strings.ToLower(k)) {
			return deny("network-driver", "network driver option %q is not allowed", strings.ToLower(k))
		}
	}
	for _, f := range []string{"Ingress", "ConfigOnly", "ConfigFrom", "Scope"} {
		if set(o.get(f)) {
			return deny("network-driver", "network %s is not allowed", f)
		}
	}
	ipam, ok := o.obj("IPAM")
	if !ok {
		return deny("network-driver", "network IPAM is not an object")
	}
	if d, ok := str(ipam.get("Driver")); !ok || (d != "" && d != "default") {
		return deny("network-driver", "IPAM driver %v is not allowed", ipam.get("Driver"))
	}
	if set(ipam.get("Options")) || set(ipam.get("Config")) {
		return deny("network-driver", "IPAM options and address ranges are not allowed; dockerd picks a free subnet from its own pools")
	}
	return nil
}

// containerID returns the {id} of a /containers/{id}/... path.
func containerID(path string) string {
	parts := strings.SplitN(strings.TrimPrefix(path, "/"), "/", 3)
	if len(parts) < 2 {
		return ""
	}
	return parts[1]
}
