package sumdb

import (
	"net/http"

	"golang.org/x/mod/module"
)

// VerifiedCache is what gatehouse's own checker of a database has
// verified (internal/verify.SumDB): the one cache of tiles and lookups
// behind both verification and the client-facing proxy.
type VerifiedCache interface {
	// Verified returns the answer kept for a protocol path ("tile/...",
	// "lookup/<escaped path>@<escaped version>"), exactly as the database
	// served it.
	Verified(p string) ([]byte, bool)
	// Verify looks a module version up, verifying it, which keeps its
	// answer and tiles.
	Verify(modPath, version string) error
}

// serveVerifiedLookup answers a lookup with the database's own answer as
// the checker verified and kept it, looking it up (and verifying it) first
// if need be. A lookup answer never changes for a version (a record, once
// in the log, stays); the signed tree head it carries may be older than
// the newest, which the go command handles as with its own cache: it
// checks that tree against the newest it knows. It reports false when it
// has no verified answer to give; the request is then forwarded as it is.
func (p *Proxy) serveVerifiedLookup(w http.ResponseWriter, r *http.Request, mod, vers string) bool {
	if p.Verified == nil {
		return false
	}
	escMod, err1 := module.EscapePath(mod)
	escVers, err2 := module.EscapeVersion(vers)
	if err1 != nil || err2 != nil {
		return false
	}
	key := "lookup/" + escMod + "@" + escVers
	data, ok := p.Verified.Verified(key)
	if !ok {
		// Not found, unreachable, exempt (nosumdb) or inconsistent: the
		// upstream's own answer is forwarded, which the go command judges.
		if err := p.Verified.Verify(mod, vers); err != nil {
			return false
		}
		if data, ok = p.Verified.Verified(key); !ok {
			return false
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.WriteHeader(http.StatusOK)
	w.Write(data)
	return true
}
