package guard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
)

// OwnerLabel is the label gatehouse puts on the containers, networks and
// volumes an owner-scoped client creates; its value is the client's name.
// Only gatehouse sets it: a client that sends it is refused.
const OwnerLabel = "dev.gatehouse.owner"

// An object is what dockerd resolved a client's reference (a name, an id
// or a unique id prefix) to.
type object struct {
	id         string // full id; the name for a volume
	owner      string // its OwnerLabel, "" when it has none
	container  string // an exec instance's container
	privileged bool   // an exec instance created with Privileged
}

// The per-object endpoints: /containers/{id}/..., /networks/{id}/...,
// /volumes/{name} and /exec/{id}/....
var objectPrefixes = []struct{ prefix, kind string }{
	{"/containers/", "container"}, {"/networks/", "network"}, {"/volumes/", "volume"}, {"/exec/", "exec"},
}

// objectRef splits the path of a per-object endpoint into the kind of
// object, the client's reference to it and the rest of the path.
func objectRef(ep api.Endpoint, path string) (kind, ref, suffix string, ok bool) {
	for _, o := range objectPrefixes {
		tail, has := strings.CutPrefix(ep.Path, o.prefix)
		if !has || !strings.HasPrefix(tail, "{") {
			continue
		}
		_, suffix, _ = strings.Cut(tail, "}")
		rest, has := strings.CutPrefix(path, o.prefix)
		if !has || !strings.HasSuffix(rest, suffix) {
			return "", "", "", false
		}
		ref = strings.TrimSuffix(rest, suffix)
		return o.kind, ref, suffix, ref != ""
	}
	return "", "", "", false
}

// resolve asks dockerd which object ref names, the way the request itself
// would be resolved.
func (g *Guard) resolve(ctx context.Context, kind, ref string) (*object, bool, error) {
	esc := url.PathEscape(ref)
	switch kind {
	case "container":
		var c struct {
			ID     string `json:"Id"`
			Config struct{ Labels map[string]string }
		}
		found, err := g.daemonJSON(ctx, "GET", "/containers/"+esc+"/json", nil, &c)
		return &object{id: c.ID, owner: c.Config.Labels[OwnerLabel]}, found && c.ID != "", err
	case "network":
		var n struct {
			ID     string `json:"Id"`
			Labels map[string]string
		}
		found, err := g.daemonJSON(ctx, "GET", "/networks/"+esc, nil, &n)
		return &object{id: n.ID, owner: n.Labels[OwnerLabel]}, found && n.ID != "", err
	case "volume":
		var v struct {
			Name   string
			Labels map[string]string
		}
		found, err := g.daemonJSON(ctx, "GET", "/volumes/"+esc, nil, &v)
		return &object{id: v.Name, owner: v.Labels[OwnerLabel]}, found && v.Name != "", err
	case "exec":
		var x struct {
			ID            string
			ContainerID   string
			ProcessConfig struct {
				Privileged bool `json:"privileged"`
			}
		}
		found, err := g.daemonJSON(ctx, "GET", "/exec/"+esc+"/json", nil, &x)
		if err != nil || !found || x.ID == "" {
			return nil, false, err
		}
		o := &object{id: x.ID, container: x.ContainerID, privileged: x.ProcessConfig.Privileged}
		c, found, err := g.resolve(ctx, "container", x.ContainerID)
		if err != nil {
			return nil, false, err
		}
		if found {
			o.owner = c.owner
		}
		return o, true, nil
	}
	return nil, false, fmt.Errorf("unknown object kind %q", kind)
}

// notFound is dockerd's own answer for an object that does not exist. An
// owner-scoped client gets it for objects of others too, so that it cannot
// tell them from objects that are not there.
// The audit record says which object a refused reference was resolved
// to, if any (call.object).
func notFound(kind, ref string) *refusal {
	msg := map[string]string{
		"container": "No such container: %s",
		"network":   "network %s not found",
		"volume":    "get %s: no such volume",
		"exec":      "No such exec instance: %s",
	}[kind]
	return &refusal{status: http.StatusNotFound, rule: "owner-scope", reason: fmt.Sprintf(msg, ref)}
}

// asDaemon reports whether f is answered in dockerd's words (notFound)
// rather than as a gatehouse refusal.
func (f refusal) asDaemon() bool { return f.rule == "owner-scope" && f.status == http.StatusNotFound }

// checkObject applies the owner scope and the exec rules to a request on
// one object. An exec start is judged by the exec's own settings, since the
// exec may have been created by anyone; for an owner-scoped client the
// object must carry its owner label, and the request goes on to dockerd
// with the full id it was resolved to, so that it reaches the object that
// was checked even if names or id prefixes change meanwhile.
func (g *Guard) checkObject(c *call) *refusal {
	kind, ref, suffix, ok := objectRef(c.ep, c.path.Path)
	if !ok {
		return nil
	}
	execStart := kind == "exec" && suffix == "/start"
	if c.owner == "" && !(execStart && !c.unrestricted) {
		return nil
	}
	o, found, err := g.resolve(c.r.Context(), kind, ref)
	switch {
	case err != nil && clientError(err) && c.owner != "":
		// An id prefix that two containers share, say: saying so would
		// tell the client that another's exists.
		return notFound(kind, ref)
	case err != nil && clientError(err):
		return nil // dockerd answers for it
	case err != nil:
		rule := "owner-scope"
		if c.owner == "" {
			rule = "no-privileged" // an exec start that could not be checked
		}
		return &refusal{status: http.StatusBadGateway, rule: rule, reason: fmt.Sprintf("cannot look up %s %q: %v", kind, clip(ref, 80), err)}
	case !found && c.owner == "":
		return nil
	case !found:
		return notFound(kind, ref)
	}
	c.object = o.id
	if c.owner != "" && o.owner != c.owner {
		return notFound(kind, ref)
	}
	if execStart && !c.unrestricted && o.privileged {
		return &refusal{status: http.StatusForbidden, rule: "no-privileged", reason: fmt.Sprintf("exec %s was created with Privileged; starting it is not allowed", o.id)}
	}
	if c.owner != "" {
		prefix := c.path.Path[:len(c.path.Path)-len(ref)-len(suffix)]
		c.path.Path = prefix + o.id + suffix
	}
	return nil
}

// The list endpoints an owner-scoped client sees only its own objects in:
// a label filter is added to their filters.
var listEndpoints = map[string]bool{
	"GET /containers/json": true, "GET /networks": true, "GET /volumes": true, "GET /events": true,
	"POST /containers/prune": true, "POST /networks/prune": true, "POST /volumes/prune": true,
}

// The endpoints that create what an owner label goes on.
var createEndpoints = map[string]bool{
	"POST /containers/create": true, "POST /networks/create": true, "POST /volumes/create": true,
}

// checkScope filters lists, labels creations and checks what a create or
// connect refers to.
func (g *Guard) checkScope(c *call) *refusal {
	e := c.ep.String()
	if createEndpoints[e] {
		if c.unrestricted && c.owner == "" {
			return nil
		}
		if f := c.readBody(); f != nil {
			return f
		}
		body, err := setOwnerLabel(c.body, c.owner)
		if err == nil && e == "POST /containers/create" {
			err = mountOwnerLabel(c.body)
		}
		if err != nil {
			return &refusal{status: http.StatusForbidden, rule: err.rule, reason: err.reason}
		}
		if c.owner == "" {
			return nil
		}
		switch e {
		case "POST /containers/create":
			if f := g.checkCreateRefs(c); f != nil {
				return f
			}
		case "POST /volumes/create":
			// dockerd answers a create of an existing name with that volume.
			var v struct{ Name string }
			if json.Unmarshal(c.body, &v) == nil {
				if f := g.checkRef(c, "volume", v.Name, ""); f != nil {
					return f
				}
			}
		}
		c.setBody(body)
		return nil
	}
	if c.owner == "" {
		return nil
	}
	switch {
	case listEndpoints[e]:
		q, err := addLabelFilter(c.r.URL.Query(), OwnerLabel+"="+c.owner)
		if err != nil {
			return &refusal{status: http.StatusBadRequest, rule: "strict-query", reason: err.Error()}
		}
		c.r.URL.RawQuery = q.Encode()
	case e == "GET /system/df":
		return &refusal{status: http.StatusForbidden, rule: "owner-scope", reason: "disk usage lists the containers and volumes of every client"}
	case e == "POST /commit":
		return g.checkRef(c, "container", c.r.URL.Query().Get("container"), "")
	case e == "POST /build":
		// The build's RUN steps join the network it names.
		if m := c.r.URL.Query().Get("networkmode"); !builtinNetwork(m) {
			return g.checkRef(c, "network", m, "building on ")
		}
	case e == "POST /networks/{id}/connect" || e == "POST /networks/{id}/disconnect":
		if f := c.readBody(); f != nil {
			return f
		}
		var b struct{ Container string }
		if err := json.Unmarshal(c.body, &b); err != nil {
			return &refusal{status: http.StatusBadRequest, rule: "strict-json", reason: "request body refused: " + err.Error()}
		}
		return g.checkRef(c, "container", b.Container, "")
	}
	return nil
}

// checkRef refuses a reference, in a body or query, to an object of
// another client, or one dockerd cannot resolve to one object. A reference
// to nothing passes: dockerd answers for it.
// This tells a client that the name exists; per-object paths do not.
func (g *Guard) checkRef(c *call, kind, ref, what string) *refusal {
	if ref == "" {
		return nil
	}
	o, found, err := g.resolve(c.r.Context(), kind, ref)
	switch {
	case err != nil && clientError(err):
		// An id prefix that objects of two clients share: passed on, it
		// would reach the other's once the client removed its own.
		return &refusal{status: http.StatusForbidden, rule: "owner-scope", reason: fmt.Sprintf("%s%s %q does not name one object (%v)", what, kind, clip(ref, 80), err)}
	case err != nil:
		return &refusal{status: http.StatusBadGateway, rule: "owner-scope", reason: fmt.Sprintf("cannot look up %s %q: %v", kind, clip(ref, 80), err)}
	}
	if found && o.owner != c.owner {
		// A 403, not dockerd's 404: the docker CLI takes a 404 on create
		// for a missing image and tries to pull it.
		return &refusal{status: http.StatusForbidden, rule: "owner-scope", reason: fmt.Sprintf("%s%s %q is not one of the client's", what, kind, clip(ref, 80))}
	}
	return nil
}

// checkCreateRefs checks what a new container of an owner-scoped client
// would share: the networks it joins, the containers it links to and the
// named volumes it mounts must be the client's. A named volume that does
// not exist yet is created with the owner label first, so that the client
// may later list and remove it.
func (g *Guard) checkCreateRefs(c *call) *refusal {
	b, err := parseCreate(c.body)
	if err != nil {
		return &refusal{status: http.StatusBadRequest, rule: "strict-json", reason: "request body refused: " + err.Error()}
	}
	for _, n := range b.networks() {
		if f := g.checkRef(c, "network", n, "joining "); f != nil {
			return f
		}
	}
	for _, l := range b.host().Links {
		name, _, _ := strings.Cut(l, ":")
		if f := g.checkRef(c, "container", strings.TrimPrefix(name, "/"), "linking to "); f != nil {
			return f
		}
	}
	vols := b.host().namedVolumes()
	if len(vols) > maxNamedVolumes {
		return tooManyVolumes(len(vols))
	}
	for _, v := range vols {
		o, found, err := g.resolve(c.r.Context(), "volume", v)
		if err != nil {
			return &refusal{status: http.StatusBadGateway, rule: "owner-scope", reason: fmt.Sprintf("cannot look up volume %q: %v", clip(v, 80), err)}
		}
		if found && o.owner != c.owner {
			return &refusal{status: http.StatusForbidden, rule: "owner-scope", reason: fmt.Sprintf("volume %q belongs to another client", v)}
		}
		if !found {
			req := map[string]any{"Name": v, "Labels": map[string]string{OwnerLabel: c.owner}}
			var made struct{ Labels map[string]string }
			if _, err := g.daemonJSON(c.r.Context(), "POST", "/volumes/create", req, &made); err != nil {
				return &refusal{status: http.StatusBadGateway, rule: "owner-scope", reason: fmt.Sprintf("cannot create volume %q: %v", clip(v, 80), err)}
			}
			// dockerd answers with the volume of that name if one was made
			// meanwhile, as it is.
			if made.Labels[OwnerLabel] != c.owner {
				return &refusal{status: http.StatusForbidden, rule: "owner-scope", reason: fmt.Sprintf("volume %q belongs to another client", v)}
			}
		}
	}
	return nil
}

type labelError struct{ rule, reason string }

// setOwnerLabel refuses a body that sets OwnerLabel itself, and returns the
// body with OwnerLabel set to owner (unchanged for owner ""). Keys are
// matched as encoding/json, and so dockerd, matches them: "labels" and
// "Labelſ" are Labels too, and a body with two of them is refused.
func setOwnerLabel(body []byte, owner string) ([]byte, *labelError) {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, &labelError{"strict-json", "request body is not one JSON object: " + err.Error()}
	}
	var key string
	for k := range top {
		if strings.EqualFold(k, "Labels") {
			if key != "" {
				return nil, &labelError{"strict-json", "the body has Labels twice, in different cases"}
			}
			key = k
		}
	}
	labels := map[string]string{}
	if key != "" {
		if err := json.Unmarshal(top[key], &labels); err != nil {
			return nil, &labelError{"strict-json", "Labels is not an object of strings"}
		}
		if labels == nil {
			labels = map[string]string{}
		}
		for k := range labels {
			if strings.EqualFold(strings.TrimSpace(k), OwnerLabel) {
				return nil, &labelError{"owner-label", fmt.Sprintf("the label %s is set by gatehouse, not by clients", OwnerLabel)}
			}
		}
	}
	if owner == "" {
		return body, nil
	}
	delete(top, key)
	labels[OwnerLabel] = owner
	lb, _ := json.Marshal(labels)
	top["Labels"] = lb
	out, err := json.Marshal(top)
	if err != nil {
		return nil, &labelError{"strict-json", err.Error()}
	}
	return out, nil
}

// mountOwnerLabel refuses a containers/create body whose mounts give the
// volumes dockerd creates for them OwnerLabel (VolumeOptions.Labels): such
// a volume would be in another client's scope and shared with this
// container.
func mountOwnerLabel(body []byte) *labelError {
	b, err := parseCreate(body)
	if err != nil {
		return &labelError{"strict-json", "request body refused: " + err.Error()}
	}
	for _, m := range b.host().Mounts {
		if m.VolumeOptions == nil {
			continue
		}
		for k := range m.VolumeOptions.Labels {
			if strings.EqualFold(strings.TrimSpace(k), OwnerLabel) {
				return &labelError{"owner-label", fmt.Sprintf("the label %s is set by gatehouse, not by clients (mount VolumeOptions.Labels)", OwnerLabel)}
			}
		}
	}
	return nil
}

// addLabelFilter adds a label filter to the filters parameter of a list
// query, in either of the JSON forms dockerd reads ({"label":{"a=b":true}}
// or the older {"label":["a=b"]}). dockerd requires all label filters to
// match, so a client's own label filters only narrow the list further.
func addLabelFilter(q url.Values, label string) (url.Values, error) {
	if len(q["filters"]) > 1 {
		return nil, fmt.Errorf("query parameter %q is given more than once", "filters")
	}
	f := map[string]map[string]bool{}
	if raw := q.Get("filters"); raw != "" {
		if err := json.Unmarshal([]byte(raw), &f); err != nil {
			var old map[string][]string
			if json.Unmarshal([]byte(raw), &old) != nil {
				return nil, fmt.Errorf("the filters parameter is not valid JSON filters")
			}
			f = map[string]map[string]bool{}
			for k, vs := range old {
				f[k] = map[string]bool{}
				for _, v := range vs {
					f[k][v] = true
				}
			}
		}
	}
	if f["label"] == nil {
		f["label"] = map[string]bool{}
	}
	f["label"][label] = true
	b, _ := json.Marshal(f)
	out := url.Values{}
	for k, v := range q {
		out[k] = v
	}
	out.Set("filters", string(b))
	return out, nil
}
