package sumdb

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"

	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// Own serves gatehouse's own checksum log to go commands at
// /sumdb/<name>/... A lookup of a version the log does not hold yet calls
// Fill, which fetches and verifies the version (a private module from its
// source, a public one against the upstream checksum database) and adds it
// to the log; then the lookup is answered from the log.
type Own struct {
	Log *Log
	// Fill makes the log hold path@version, or returns an error wrapping
	// upstream.ErrNotFound if there is no such version.
	Fill    func(ctx context.Context, path, version string) error
	Timeout time.Duration // for Fill; 0 means 2 minutes
	Logger  *slog.Logger

	once   sync.Once
	server *sumdb.Server
}

func (o *Own) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Set up lazily so that Own is a plain struct literal.
	o.once.Do(func() { o.server = sumdb.NewServer(serverOps{o.Log}) })
	path := r.URL.Path
	switch {
	case path == "/supported":
		w.WriteHeader(http.StatusOK)
		return
	case strings.HasPrefix(path, "/lookup/"):
		if !lookupRE.MatchString(path) {
			httpError(w, http.StatusBadRequest, "invalid checksum database lookup: want /lookup/<module>@<version>")
			return
		}
		escMod, escVers, _ := strings.Cut(strings.TrimPrefix(path, "/lookup/"), "@")
		mod, err1 := module.UnescapePath(escMod)
		vers, err2 := module.UnescapeVersion(escVers)
		if err1 != nil || err2 != nil || strings.HasPrefix(mod, "-") || module.CanonicalVersion(vers) != vers {
			httpError(w, http.StatusBadRequest, "invalid module path or version in checksum database lookup")
			return
		}
		if _, _, ok := o.Log.Lookup(mod, vers); !ok && o.Fill != nil {
			if !o.fill(w, r, mod, vers) {
				return
			}
		}
	}
	o.server.ServeHTTP(w, r)
}

// fill asks Fill for a missing version and reports failure to the client.
func (o *Own) fill(w http.ResponseWriter, r *http.Request, mod, vers string) bool {
	timeout := o.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	err := o.Fill(ctx, mod, vers)
	if err == nil {
		return true
	}
	if errors.Is(err, upstream.ErrNotFound) {
		// The same words as a lookup refused because the caller may not see
		// the module (the access gate's "not found: mod@vers"): probing must
		// not tell a hidden module from one that does not exist.
		httpError(w, http.StatusNotFound, "not found: "+mod+"@"+vers)
		return false
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	// The error may name private hosts: it goes to the log only.
	log.Warn("checksum log lookup: cannot add version", "module", mod, "version", vers, "err", err)
	httpError(w, http.StatusBadGateway, mod+"@"+vers+" is not in the checksum log yet and could not be fetched and verified now; try again later")
	return false
}
