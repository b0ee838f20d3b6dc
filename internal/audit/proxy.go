package audit

import "github.com/gatehouse-dev/gatehouse/internal/reqlog"

// ProxyRecord is the audit record of one module proxy request.
func ProxyRecord(e *reqlog.Entry) Record {
	r := Record{
		Time:            e.Start.UTC(),
		Service:         "proxy",
		RequestID:       e.ID,
		ClientRequestID: e.ClientRequestID,
		Identity:        e.Identity,
		AuthMethod:      e.AuthMethod,
		Groups:          e.Groups,
		Client:          e.Client,
		Module:          e.Module,
		Version:         e.Version,
		Kind:            e.Kind,
		Source:          e.Source,
		H1:              e.H1,
		Decision:        e.Decision,
		Reason:          e.Reason,
		Rule:            e.Rule,
		Status:          e.Status,
		Bytes:           e.Bytes,
	}
	if r.Module == "" {
		r.Path = e.Path // checksum database requests and refusals before parsing
	}
	if e.RawURI != e.Path {
		r.Path, r.RawPath = e.Path, e.RawURI
	}
	return r
}
