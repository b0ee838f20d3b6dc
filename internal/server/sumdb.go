package server

import (
	"net/http"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

// gatedLookups runs the gates on checksum-database lookups. A lookup names
// a module version, and answering one from gatehouse's own log fetches that
// version into the store; so it passes the same gates as a download: a
// caller who may not see the module learns nothing of it, and a version the
// policy refuses never enters through the back door.
func (s *Server) gatedLookups(next http.Handler) http.Handler {
	if len(s.opts.Gates) == 0 {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, ok := parseLookup(r.URL.Path)
		if !ok && strings.Contains(r.URL.Path, "/lookup/") {
			// Fail closed: a lookup the gates cannot read must not reach a
			// database, which may read it differently (a '#' or '?' after
			// the version is cut off when it is forwarded).
			e := reqlog.From(r.Context())
			e.Decision, e.Reason = "deny", "malformed checksum database lookup"
			writeError(w, http.StatusBadRequest, "invalid checksum database lookup: want /lookup/<module>@<canonical version>")
			return
		}
		if !ok {
			next.ServeHTTP(w, r) // not a lookup: tiles, latest, supported
			return
		}
		e := reqlog.From(r.Context())
		e.Module, e.Version = req.Module, req.Version
		for _, g := range s.opts.Gates {
			if err := g.Admit(r.Context(), req); err != nil {
				s.refuse(w, r, err)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// parseLookup parses /sumdb/<name>/lookup/<escaped path>@<escaped version>
// (a database name may itself contain slashes) as a request for the
// version's .info, the kind the gates treat as naming a version.
func parseLookup(p string) (goproxy.Request, bool) {
	rest, ok := strings.CutPrefix(p, "/sumdb/")
	if !ok {
		return goproxy.Request{}, false
	}
	_, lookup, ok := strings.Cut(rest, "/lookup/")
	if !ok {
		return goproxy.Request{}, false
	}
	escMod, escVers, ok := strings.Cut(lookup, "@")
	if !ok {
		return goproxy.Request{}, false
	}
	mod, err := module.UnescapePath(escMod)
	if err != nil {
		return goproxy.Request{}, false
	}
	vers, err := module.UnescapeVersion(escVers)
	if err != nil || !semver.IsValid(vers) || module.CanonicalVersion(vers) != vers {
		return goproxy.Request{}, false
	}
	return goproxy.Request{Module: mod, Version: vers, Kind: goproxy.KindInfo}, true
}
