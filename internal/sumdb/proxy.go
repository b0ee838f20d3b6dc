// Package sumdb serves checksum databases to go commands at
// /sumdb/<name>/...: a proxy of a public database (with its immutable tiles
// cached in the store), and a registry of databases by name.
package sumdb

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-dev/gatehouse/internal/retry"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// Proxy forwards a public checksum database to clients.
type Proxy struct {
	Name    string // e.g. "sum.golang.org"
	URL     string // where the database is served, e.g. https://proxy.golang.org/sumdb/sum.golang.org
	Store   storage.Backend
	Client  *http.Client
	Timeout time.Duration
	Logger  *slog.Logger
	// Private reports module paths that must never be sent to this
	// database; their lookups are refused here.
	Private func(modPath string) bool
	// Verified is gatehouse's own checker of this database, whose
	// verified tiles and lookups answer clients first (see shared.go);
	// nil: none.
	Verified VerifiedCache
	// Offline answers only from what Verified keeps (imported by
	// gatehouse import, see internal/airgap) and LatestFile; nothing is
	// fetched or forwarded.
	Offline    bool
	LatestFile string
}

// offlineMiss is the answer to what an offline store does not hold.
func offlineMiss(w http.ResponseWriter, what string) {
	httpError(w, http.StatusNotFound, "not found: "+what+" is not in the offline store (gatehouse serve --offline: import a bundle that holds it)")
}

var lookupRE = regexp.MustCompile(`^/lookup/[^@]+@v[0-9]+\.[0-9]+\.[0-9]+(-[^@]*)?(\+incompatible)?$`)

// ServeHTTP serves one request; r.URL.Path is the part after /sumdb/<name>.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := r.URL.Path
	switch {
	case path == "/supported":
		w.WriteHeader(http.StatusOK)
	case path == "/latest" && p.Offline:
		data, err := os.ReadFile(p.LatestFile)
		if err != nil {
			offlineMiss(w, "the checksum database's tree head")
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(data)
	case path == "/latest":
		p.forward(w, r, path, "no-cache")
	case strings.HasPrefix(path, "/lookup/"):
		if !lookupRE.MatchString(path) {
			httpError(w, http.StatusBadRequest, "invalid checksum database lookup: want /lookup/<module>@<version>")
			return
		}
		escMod, escVers, _ := strings.Cut(strings.TrimPrefix(path, "/lookup/"), "@")
		mod, err := module.UnescapePath(escMod)
		if err != nil || strings.HasPrefix(mod, "-") {
			httpError(w, http.StatusBadRequest, "invalid module path in checksum database lookup")
			return
		}
		// Only a canonical version is forwarded: anything else (a '#' or
		// '?' after it) would make the upstream URL say something else.
		if vers, err := module.UnescapeVersion(escVers); err != nil || module.CanonicalVersion(vers) != vers {
			httpError(w, http.StatusBadRequest, "invalid version in checksum database lookup")
			return
		}
		if p.Private != nil && p.Private(mod) {
			// The words of a lookup the access gate refuses: a caller must not
			// learn which private paths are hidden from it by comparing them.
			vers, _ := module.UnescapeVersion(escVers)
			p.log().Info("lookup of a private module in the public checksum database refused; clients should use gatehouse's own (see docs/private-modules.md)", "module", mod, "sumdb", p.Name)
			httpError(w, http.StatusNotFound, "not found: "+mod+"@"+vers)
			return
		}
		vers, _ := module.UnescapeVersion(escVers)
		if p.Offline {
			if !p.serveOfflineLookup(w, mod, vers) {
				offlineMiss(w, mod+"@"+vers)
			}
			return
		}
		if p.serveVerifiedLookup(w, r, mod, vers) {
			return
		}
		p.forward(w, r, path, "max-age=3600")
	case strings.HasPrefix(path, "/tile/"):
		t, err := tlog.ParseTilePath(strings.TrimPrefix(path, "/"))
		if err != nil {
			httpError(w, http.StatusBadRequest, "invalid tile path")
			return
		}
		p.serveTile(w, r, t)
	default:
		httpError(w, http.StatusNotFound, "not a checksum database path")
	}
}

// serveTile answers from the store, or fetches and stores the tile: tiles
// never change once published, which makes them safe to cache forever.
// Their store names match the go command's own cache layout.
func (p *Proxy) serveTile(w http.ResponseWriter, r *http.Request, t tlog.Tile) {
	if p.Offline {
		p.serveOfflineTile(w, t)
		return
	}
	if p.Verified != nil {
		if data, ok := p.Verified.Verified(t.Path()); ok {
			writeTile(w, http.StatusOK, data)
			return
		}
	}
	name := "sumdb/" + p.Name + "/" + t.Path()
	if obj, err := p.Store.Open(r.Context(), name); err == nil {
		defer obj.Close()
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "max-age=31536000, immutable")
		http.ServeContent(w, r, "", obj.Info().ModTime, obj)
		return
	}
	data, status, err := p.fetch(r.Context(), "/"+t.Path())
	if err != nil {
		p.log().Warn("checksum database tile fetch failed", "sumdb", p.Name, "tile", t.Path(), "err", err)
		httpError(w, status, "checksum database "+p.Name+" is not reachable through this proxy right now")
		return
	}
	// Reply first, persist after: the client has the whole tile (its
	// length was sent) before the copy kept in the store is synced.
	writeTile(w, status, data)
	if status == http.StatusOK {
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		if err := p.Store.Put(context.WithoutCancel(r.Context()), name, bytes.NewReader(data)); err != nil {
			p.log().Warn("caching checksum database tile", "err", err)
		}
	}
}

func writeTile(w http.ResponseWriter, status int, data []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Length", strconv.Itoa(len(data)))
	if status == http.StatusOK {
		h.Set("Cache-Control", "max-age=31536000, immutable")
	}
	w.WriteHeader(status)
	w.Write(data)
}

// forward passes a request through, keeping the upstream's status and body
// for 200, 404 and 410 (a lookup of an unknown module is a 404 the go
// command reads) and replacing others with a short message.
func (p *Proxy) forward(w http.ResponseWriter, r *http.Request, path, cacheControl string) {
	data, status, err := p.fetch(r.Context(), path)
	if err != nil {
		p.log().Warn("checksum database request failed", "sumdb", p.Name, "upstream", upstream.ShownString(p.URL), "path", path, "err", err)
		httpError(w, status, "checksum database "+p.Name+" is not reachable through this proxy right now")
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	if status == http.StatusOK {
		w.Header().Set("Cache-Control", cacheControl)
	}
	w.WriteHeader(status)
	w.Write(data)
}

// fetch reads path from the database, trying again on connection errors
// and 5xx answers. Only 200, 404 and 410 come back without error; anything
// else is reported as 502 or 504.
func (p *Proxy) fetch(ctx context.Context, path string) (data []byte, status int, err error) {
	timeout := p.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = retry.Default.Do(ctx, func(ctx context.Context) error {
		data, status, err = p.fetchOnce(ctx, path)
		return err
	}, func(attempt int, wait time.Duration, err error) {
		p.log().Warn("checksum database request failed; trying again", "sumdb", p.Name, "upstream", upstream.ShownString(p.URL), "path", path, "attempt", attempt, "wait", wait.Round(time.Millisecond), "err", err)
	})
	return data, status, err
}

// statusError is an answer other than 200, 404 or 410.
type statusError struct {
	status string
	code   int
}

func (e *statusError) Error() string       { return "upstream answered " + e.status }
func (e *statusError) HTTPStatusCode() int { return e.code }

func (p *Proxy) fetchOnce(ctx context.Context, path string) ([]byte, int, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(p.URL, "/")+path, nil)
	if err != nil {
		return nil, http.StatusBadGateway, errors.New("invalid checksum database URL")
	}
	client := p.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		// The client's *url.Error names the URL, user name included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, http.StatusGatewayTimeout, err
		}
		return nil, http.StatusBadGateway, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, http.StatusBadGateway, err
	}
	switch resp.StatusCode {
	case http.StatusOK, http.StatusNotFound, http.StatusGone:
		return data, resp.StatusCode, nil
	}
	return nil, http.StatusBadGateway, &statusError{resp.Status, resp.StatusCode}
}

func (p *Proxy) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

func httpError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.WriteHeader(status)
	io.WriteString(w, msg+"\n")
}

// Registry routes /sumdb/<name>/... to the database of that name. Names
// may contain slashes; the longest matching name wins.
type Registry struct {
	dbs map[string]http.Handler
}

// Add registers h as the database name.
func (r *Registry) Add(name string, h http.Handler) {
	if r.dbs == nil {
		r.dbs = map[string]http.Handler{}
	}
	r.dbs[name] = h
}

// ServeHTTP serves a request whose path begins with /sumdb/. Unknown
// databases get 404, which tells the go command to try the next proxy or
// the database directly.
func (r *Registry) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rest := strings.TrimPrefix(req.URL.Path, "/sumdb/")
	best := ""
	for name := range r.dbs {
		if (strings.HasPrefix(rest, name+"/")) && len(name) > len(best) {
			best = name
		}
	}
	if best == "" {
		httpError(w, http.StatusNotFound, "this proxy does not serve that checksum database")
		return
	}
	r2 := req.Clone(req.Context())
	r2.URL.Path = strings.TrimPrefix(rest, best)
	r2.URL.RawPath = ""
	r.dbs[best].ServeHTTP(w, r2)
}
