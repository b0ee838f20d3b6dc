// Package audit writes the audit log: one JSON line per decision, each line
// hash-chained to the one before it so that an edited, removed or reordered
// line is detected by Verify.
package audit

import "time"

// A Record is one audited request. Fields that do not apply are left empty
// and omitted from the line. Seq, Prev and Hash are set by the writer.
type Record struct {
	Time    time.Time `json:"time"`
	Service string    `json:"service"` // "proxy" or "docker"
	// Replica names the gatehouse process that wrote the record (set by
	// the Log from Options.Replica): each replica keeps its own chain.
	Replica   string `json:"replica,omitempty"`
	RequestID string `json:"request_id,omitempty"` // gatehouse's own
	// ClientRequestID is the X-Request-Id the client sent: its claim,
	// never used as RequestID.
	ClientRequestID string   `json:"client_request_id,omitempty"`
	Identity        string   `json:"identity,omitempty"`
	AuthMethod      string   `json:"auth_method,omitempty"`
	Groups          []string `json:"groups,omitempty"`
	Client          string   `json:"client,omitempty"`

	// Module proxy requests.
	Module  string `json:"module,omitempty"`
	Version string `json:"version,omitempty"`
	Kind    string `json:"kind,omitempty"`
	Path    string `json:"path,omitempty"` // when there is no module: /sumdb/... requests
	// RawPath is the request target exactly as sent (query included),
	// where it differs from the decoded path: %-escapes and the like.
	RawPath string `json:"raw_path,omitempty"`
	Source  string `json:"source,omitempty"` // cache, upstream
	H1      string `json:"h1,omitempty"`

	// Docker API requests.
	Method   string `json:"method,omitempty"`
	Endpoint string `json:"endpoint,omitempty"` // normalised path
	// The client certificate's subject and serial (hex): two certificates
	// that map to the same client name are told apart.
	CertSubject string        `json:"cert_subject,omitempty"`
	CertSerial  string        `json:"cert_serial,omitempty"`
	Owner       string        `json:"owner,omitempty"`  // owner label set on what an owner-scoped client creates
	Object      string        `json:"object,omitempty"` // full id (or volume name) a per-object request was resolved to
	Create      *DockerCreate `json:"create,omitempty"` // what a container or exec create asked for

	Decision string `json:"decision"` // allow, deny, would-deny, error
	Reason   string `json:"reason,omitempty"`
	Rule     string `json:"rule,omitempty"`
	Status   int    `json:"status,omitempty"`
	Bytes    int64  `json:"bytes,omitempty"`

	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"` // Hash of the line before, "" for the first
	Hash string `json:"hash"`
}

// A Sink takes records. Implementations are safe for concurrent use.
type Sink interface {
	Write(Record) error
}

// DockerCreate is what a docker container create (or exec create) asked
// for: the fields that reach the host. Values are clipped; Unparsed says why
// a body could not be summarised.
type DockerCreate struct {
	Image       string   `json:"image,omitempty"`
	User        string   `json:"user,omitempty"`
	Privileged  bool     `json:"privileged,omitempty"`
	Binds       []string `json:"binds,omitempty"`
	Mounts      []string `json:"mounts,omitempty"` // type:source:target[:ro]
	NetworkMode string   `json:"network_mode,omitempty"`
	Networks    []string `json:"networks,omitempty"`
	LogDriver   string   `json:"log_driver,omitempty"`
	LogOptions  []string `json:"log_options,omitempty"`
	CapAdd      []string `json:"cap_add,omitempty"`
	SecurityOpt []string `json:"security_opt,omitempty"`
	Namespaces  []string `json:"namespaces,omitempty"` // pid=host, ...
	Devices     []string `json:"devices,omitempty"`
	Unparsed    string   `json:"unparsed,omitempty"`
}
