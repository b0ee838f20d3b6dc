package guard

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
)

// A call is one allowed request on its way to dockerd, as the owner and
// exec checks see it and may change it.
type call struct {
	r            *http.Request
	ep           api.Endpoint
	path         *api.Path // the path to forward; a resolved id replaces the client's reference
	owner        string    // the client's name, for an owner-scoped client; "" otherwise
	unrestricted bool
	maxBody      int64
	body         []byte // the request body, once read
	object       string // what a per-object reference resolved to, for the audit record
}

// newCall returns r with a per-request volume cache (volumes.go) and the
// call that the checks share.
func newCall(r *http.Request, ep api.Endpoint, p *api.Path, prof *rules.Profile, id *auth.Identity, maxBody int64) (*http.Request, *call) {
	r = r.WithContext(context.WithValue(r.Context(), volumeCacheKey{}, &volumeCache{}))
	c := &call{r: r, ep: ep, path: p, unrestricted: prof.Unrestricted, maxBody: maxBody}
	if prof.OwnerScoped {
		c.owner = id.Name
	}
	return r, c
}

// readFirst reads the body of a container or exec create, for every
// profile, so that the audit record can say what it asked for, and refuses
// a create that would mount more named volumes than are looked up.
func (c *call) readFirst() *refusal {
	switch c.ep.String() {
	case "POST /containers/create":
		if f := c.readBody(); f != nil {
			return f
		}
		if !c.unrestricted {
			return checkVolumeCount(c.body)
		}
	case "POST /containers/{id}/exec":
		return c.readBody()
	}
	return nil
}

// describe puts what the call learnt into the audit record.
func (c *call) describe(rec *audit.Record) {
	rec.Owner, rec.Object = c.owner, c.object
	if c.body == nil {
		return
	}
	switch c.ep.String() {
	case "POST /containers/create":
		rec.Create = auditCreate(c.body)
	case "POST /containers/{id}/exec":
		rec.Create = auditExec(c.body)
	}
}

// certInfo records the client certificate's subject and serial: two
// certificates that map to one client name are told apart.
func certInfo(rec *audit.Record, r *http.Request) {
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
		cert := r.TLS.PeerCertificates[0]
		rec.CertSubject, rec.CertSerial = clip(cert.Subject.String(), 512), cert.SerialNumber.Text(16)
	}
}

// readBody reads the request body, up to the body limit, once, and puts it
// back to be forwarded unchanged, now with a known length.
func (c *call) readBody() *refusal {
	if c.body != nil {
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(c.r.Body, c.maxBody+1))
	if err != nil {
		return &refusal{http.StatusBadRequest, "body-limit", "cannot read the request body"}
	}
	if int64(len(body)) > c.maxBody {
		return &refusal{http.StatusRequestEntityTooLarge, "body-limit", fmt.Sprintf("request body is larger than %d bytes", c.maxBody)}
	}
	if body == nil {
		body = []byte{}
	}
	c.setBody(body)
	return nil
}

// setBody replaces the body forwarded to dockerd.
func (c *call) setBody(b []byte) {
	c.body = b
	c.r.Body = io.NopCloser(bytes.NewReader(b))
	c.r.ContentLength = int64(len(b))
	c.r.TransferEncoding = nil
	c.r.Header.Del("Transfer-Encoding")
}
