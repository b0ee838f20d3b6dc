package config

import (
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Docker is the configuration of gatehouse docker.
type Docker struct {
	Listen          List     `toml:"listen"`
	Socket          String   `toml:"socket"`
	TLSCert         String   `toml:"tls_cert"`
	TLSKey          String   `toml:"tls_key"`
	ClientCA        String   `toml:"client_ca"`
	SocketMode      String   `toml:"socket_mode"`
	SocketGroup     String   `toml:"socket_group"`
	BindAllowlist   List     `toml:"bind_allowlist"`
	BindWritable    List     `toml:"bind_writable"`
	MaxBody         Int      `toml:"max_body"`
	AuditFile       String   `toml:"audit_file"`
	AuditStdout     Bool     `toml:"audit_stdout"`
	AuditMaxSize    Int      `toml:"audit_max_size"`
	AuditMaxFiles   Int      `toml:"audit_max_files"`
	AuditKeyFile    String   `toml:"audit_key_file"`
	ReplicaID       String   `toml:"replica_id"`
	LogFormat       String   `toml:"log_format"`
	LogLevel        String   `toml:"log_level"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	MetricsListen   String   `toml:"metrics_listen"`

	// Profiles and clients live only in the file.
	Profiles map[string]DockerProfile `toml:"profiles"`
	Clients  []DockerClient           `toml:"clients"`
}

// A DockerProfile is a named set of allow rules ([profiles.NAME]).
type DockerProfile struct {
	// OwnerScoped confines the profile's clients to the containers,
	// networks, volumes and execs they created (an owner label set by
	// gatehouse).
	OwnerScoped bool `toml:"owner_scoped"`

	Presets      []string `toml:"presets"`      // read-only, ci, full
	Allow        []string `toml:"allow"`        // "METHOD /endpoint/template"
	Unrestricted bool     `toml:"unrestricted"` // skip body rules: root on the host
	Registries   []string `toml:"registries"`   // registry hosts dockerd may reach; none: docker.io
	LogDrivers   []string `toml:"log_drivers"`  // log drivers containers may use; none: json-file, local
}

// A DockerClient maps one identity to a profile ([[clients]]).
type DockerClient struct {
	Cert    string `toml:"cert"` // client certificate CN or SAN
	UID     *int   `toml:"uid"`  // unix socket peer uid
	GID     *int   `toml:"gid"`  // unix socket peer primary gid
	Profile string `toml:"profile"`
}

// DefaultDocker returns the defaults of gatehouse docker.
func DefaultDocker() *Docker {
	return &Docker{
		Socket:          "/var/run/docker.sock",
		SocketMode:      "0660",
		MaxBody:         1 << 20,
		AuditStdout:     true,
		AuditMaxSize:    100 << 20,
		AuditMaxFiles:   10,
		ReplicaID:       String(DefaultReplicaID()),
		LogFormat:       "text",
		LogLevel:        "info",
		ShutdownTimeout: Duration(10 * time.Second),
	}
}

// DockerEnvPrefix starts the environment variables of gatehouse docker,
// apart from serve's GATEHOUSE_* ones: the two commands may share a host
// or a shell, and must not share a listen address or an audit file by
// accident (two writers would break the audit log's chain).
const DockerEnvPrefix = "GATEHOUSE_DOCKER_"

// Keys lists the scalar settings of gatehouse docker.
func (c *Docker) Keys() []Key {
	return WithEnvPrefix(DockerEnvPrefix, []Key{
		{Name: "listen", Value: &c.Listen, Usage: "`addresses` to listen on, comma-separated: host:port (TLS with client certificates) and/or unix:///path"},
		{Name: "socket", Value: &c.Socket, Usage: "`path` of the Docker daemon's unix socket"},
		{Name: "tls-cert", Value: &c.TLSCert, Usage: "server certificate `file` (PEM) for TCP listeners"},
		{Name: "tls-key", Value: &c.TLSKey, Usage: "server key `file` (PEM) for TCP listeners"},
		{Name: "client-ca", Value: &c.ClientCA, Usage: "CA certificate `file` (PEM) that client certificates must chain to"},
		{Name: "socket-mode", Value: &c.SocketMode, Usage: "file `mode` of a unix listener, octal"},
		{Name: "socket-group", Value: &c.SocketGroup, Usage: "`group` (name or gid) of a unix listener"},
		{Name: "bind-allowlist", Value: &c.BindAllowlist, Usage: "host `directories` containers may bind-mount read-only, comma-separated"},
		{Name: "bind-writable", Value: &c.BindWritable, Usage: "host `directories` containers may bind-mount read-write, each only as a whole, comma-separated"},
		{Name: "max-body", Value: &c.MaxBody, Usage: "largest inspected request body (create, exec), in `bytes`"},
		{Name: "audit-file", Value: &c.AuditFile, Usage: "audit log `file` (hash-chained JSON lines, the same log as serve's)"},
		{Name: "audit-stdout", Value: &c.AuditStdout, Usage: "write the audit log to standard output, one JSON line per request"},
		{Name: "audit-max-size", Value: &c.AuditMaxSize, Usage: "rotate the audit log at this many `bytes` (0: never)"},
		{Name: "audit-max-files", Value: &c.AuditMaxFiles, Usage: "rotated audit `files` to keep (0: all)"},
		{Name: "audit-key-file", Value: &c.AuditKeyFile, Usage: "`file` with a key that seals audit lines with HMAC-SHA256 (gatehouse audit keygen)"},
		{Name: "replica-id", Value: &c.ReplicaID, Usage: "`name` of this replica, written into every audit record (default: the host name)"},
		{Name: "log-format", Value: &c.LogFormat, Usage: "log `format`: text or json"},
		{Name: "log-level", Value: &c.LogLevel, Usage: "log `level`: debug, info, warn or error"},
		{Name: "shutdown-timeout", Value: &c.ShutdownTimeout, Usage: "how long (`duration`) requests may take to finish on SIGTERM"},
		{Name: "metrics-listen", Value: &c.MetricsListen, Usage: "`address` of a separate plain-HTTP listener serving Prometheus /metrics (default: off)"},
	})
}

// UnixPrefix marks a unix-socket listen address.
const UnixPrefix = "unix://"

// Validate checks the settings and returns the first problem as an *Error.
// Rules and profile references are checked where they are compiled
// (internal/docker/rules), with the key named the same way.
func (c *Docker) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Err: fmt.Errorf(format, args...)}
	}
	if len(c.Listen) == 0 {
		return bad("listen", "give at least one address: host:port for TLS, or unix:///path")
	}
	tcp := false
	for _, l := range c.Listen {
		if p, ok := strings.CutPrefix(l, UnixPrefix); ok {
			if !filepath.IsAbs(p) {
				return bad("listen", "%q: a unix socket path must be absolute (unix:///run/gatehouse/docker.sock)", l)
			}
			continue
		}
		if _, _, err := net.SplitHostPort(l); err != nil {
			return bad("listen", "%q is not host:port or unix:///path", l)
		}
		tcp = true
	}
	if tcp && (c.TLSCert == "" || c.TLSKey == "" || c.ClientCA == "") {
		return bad("tls-cert", "a TCP listener needs --tls-cert, --tls-key and --client-ca: plain TCP would let anyone be root on the Docker host")
	}
	if !filepath.IsAbs(string(c.Socket)) {
		return bad("socket", "%q is not an absolute path", c.Socket)
	}
	if n, err := strconv.ParseUint(strings.TrimPrefix(string(c.SocketMode), "0o"), 8, 32); err != nil || n > 0o777 {
		return bad("socket-mode", "%q is not an octal file mode like 0660", c.SocketMode)
	}
	for _, d := range c.BindAllowlist {
		if !filepath.IsAbs(d) {
			return bad("bind-allowlist", "%q is not an absolute path", d)
		}
	}
	for _, d := range c.BindWritable {
		if !filepath.IsAbs(d) {
			return bad("bind-writable", "%q is not an absolute path", d)
		}
	}
	for name, p := range c.Profiles {
		for _, r := range p.Registries {
			if r == "" || strings.ContainsAny(r, "/ \t") || strings.Contains(r, "://") {
				return bad("profiles."+name+".registries", "%q is not a registry host[:port] like docker.io or ghcr.io", r)
			}
		}
		for _, d := range p.LogDrivers {
			if d == "" || strings.ContainsAny(d, "/ \t") {
				return bad("profiles."+name+".log_drivers", "%q is not a log driver name", d)
			}
		}
	}
	if c.MaxBody < 1024 || c.MaxBody > 64<<20 {
		return bad("max-body", "%d is outside 1024..%d", c.MaxBody, 64<<20)
	}
	if c.AuditFile == "" && !c.AuditStdout {
		return bad("audit-file", "every request is audited: give --audit-file, --audit-stdout, or both")
	}
	if c.AuditMaxSize < 0 || c.AuditMaxFiles < 0 {
		return bad("audit-max-size", "must not be negative")
	}
	if err := checkReplicaID(c.ReplicaID); err != nil {
		return err
	}
	if err := checkLogging(c.LogFormat, c.LogLevel); err != nil {
		return err
	}
	if err := checkOptionalListen("metrics-listen", c.MetricsListen); err != nil {
		return err
	}
	for i, cl := range c.Clients {
		key := fmt.Sprintf("clients[%d]", i)
		n := 0
		if cl.Cert != "" {
			n++
		}
		if cl.UID != nil {
			n++
		}
		if cl.GID != nil {
			n++
		}
		if n != 1 {
			return bad(key, "give exactly one of cert, uid and gid")
		}
		if cl.Profile == "" {
			return bad(key+".profile", "must name a profile or a preset")
		}
	}
	return nil
}
