package guard

import (
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
)

// An Observer counts what the guard does (internal/metrics.Docker is one).
// Label values come from fixed sets: profile names from the configuration,
// endpoint groups, decisions and rule names from the code; never an id, a
// path or a client name.
type Observer interface {
	Request(profile, group, decision, reason string, d time.Duration)
	StreamOpened()
	StreamClosed()
}

// endpointGroup names the part of the API an endpoint is in: its first
// path segment, with the swarm objects as one group.
func endpointGroup(e api.Endpoint) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(e.Path, "/"), "/")
	switch seg {
	case "containers", "exec", "images", "build", "networks", "volumes", "plugins", "system", "distribution", "session":
		return seg
	case "commit":
		return "images"
	case "_ping", "version", "info", "events", "auth":
		return "system"
	case "swarm", "nodes", "services", "tasks", "secrets", "configs":
		return "swarm"
	}
	return "other"
}

// observe counts one request once its audit record is complete; prof is
// nil for an unknown client, ep zero before the endpoint is known.
func (g *Guard) observe(prof *rules.Profile, ep api.Endpoint, rec audit.Record, d time.Duration) {
	if g.metrics == nil {
		return
	}
	profile, group := "none", "unknown"
	if prof != nil {
		profile = prof.Name
	}
	if ep.Path != "" {
		group = endpointGroup(ep)
	}
	reason := "allowed"
	switch rec.Decision {
	case "deny":
		reason = ruleLabel(rec.Rule)
	case "error":
		reason = "daemon-unreachable"
	}
	decision := rec.Decision
	if decision == "" {
		decision = "error"
	}
	g.metrics.Request(profile, group, decision, reason, d)
}

// ruleLabel keeps a rule name to the characters rule names are made of.
func ruleLabel(rule string) string {
	if len(rule) > 40 || strings.Trim(rule, "abcdefghijklmnopqrstuvwxyz-") != "" {
		return "other"
	}
	return rule
}
