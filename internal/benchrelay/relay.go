// Package benchrelay is the relay of the cold-path benchmark: a reverse
// proxy in front of an upstream GOPROXY (and its /sumdb/ path) that holds
// every request for a fixed delay before forwarding it, as a network round
// trip would, and counts what it forwards. The benchmark puts the same relay
// in front of the upstream for the direct run (go → relay → upstream) and for
// the gatehouse run (go → gatehouse → relay → upstream), so both pay the same
// round trips and can be compared request by request.
package benchrelay

import (
	"context"
	"errors"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/module"
)

// Request kinds, as the relay classifies them.
const (
	KindInfo      = "info"
	KindMod       = "mod"
	KindZip       = "zip"
	KindList      = "list"
	KindLatest    = "latest"
	KindLookup    = "sumdb-lookup"
	KindTile      = "sumdb-tile"
	KindSumLatest = "sumdb-latest"
	KindSupported = "sumdb-supported"
	KindOther     = "other"
)

// Relay is an http.Handler forwarding to one upstream after a delay.
type Relay struct {
	upstream *url.URL
	delay    time.Duration
	proxy    *httputil.ReverseProxy

	mu    sync.Mutex
	stats Stats
}

// Stats is what the relay counted since it started or was last reset.
type Stats struct {
	Total     int            // requests received
	ByKind    map[string]int // kind (KindZip, ...) → requests
	ByPath    map[string]int // URL path → requests
	ByVersion map[string]int // "path@version" → .info, .mod, .zip and lookup requests for it
	ByStatus  map[int]int    // upstream status → responses (502: upstream unreachable)
}

// New returns a relay to upstream (a GOPROXY base URL such as
// https://proxy.golang.org; its /sumdb/ path is relayed too) that delays
// every request by delay.
func New(upstream string, delay time.Duration) (*Relay, error) {
	u, err := url.Parse(upstream)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, &url.Error{Op: "relay", URL: upstream, Err: errNotHTTP}
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Both the go command and gatehouse fetch many files at once; the
	// default of 2 idle connections per host would make the relay open
	// (and, upstream being https, handshake) new ones all the time.
	tr.MaxIdleConnsPerHost = 64
	r := &Relay{upstream: u, delay: delay, stats: newStats()}
	r.proxy = &httputil.ReverseProxy{
		Rewrite:   func(pr *httputil.ProxyRequest) { pr.SetURL(u) },
		Transport: tr,
		ModifyResponse: func(resp *http.Response) error {
			r.countStatus(resp.StatusCode)
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, req *http.Request, err error) {
			r.countStatus(http.StatusBadGateway)
			http.Error(w, "relay: "+err.Error(), http.StatusBadGateway)
		},
	}
	return r, nil
}

var errNotHTTP = errors.New("upstream must be an http or https URL with a host")

// Delay returns the delay added to every request.
func (r *Relay) Delay() time.Duration { return r.delay }

// ServeHTTP counts the request, waits out the delay (or the client's
// hang-up, in which case nothing is forwarded) and forwards it.
func (r *Relay) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.count(req.URL.Path)
	if err := sleep(req.Context(), r.delay); err != nil {
		return
	}
	r.proxy.ServeHTTP(w, req)
}

func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *Relay) count(urlPath string) {
	kind, version := Classify(urlPath)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.Total++
	r.stats.ByKind[kind]++
	r.stats.ByPath[urlPath]++
	if version != "" {
		r.stats.ByVersion[version]++
	}
}

func (r *Relay) countStatus(code int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stats.ByStatus[code]++
}

// Stats returns a copy of the counts so far.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats.clone()
}

// Reset returns the counts so far and starts counting afresh.
func (r *Relay) Reset() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.stats
	r.stats = newStats()
	return s
}

func newStats() Stats {
	return Stats{ByKind: map[string]int{}, ByPath: map[string]int{}, ByVersion: map[string]int{}, ByStatus: map[int]int{}}
}

func (s Stats) clone() Stats {
	c := newStats()
	c.Total = s.Total
	for k, v := range s.ByKind {
		c.ByKind[k] = v
	}
	for k, v := range s.ByPath {
		c.ByPath[k] = v
	}
	for k, v := range s.ByVersion {
		c.ByVersion[k] = v
	}
	for k, v := range s.ByStatus {
		c.ByStatus[k] = v
	}
	return c
}

// Versions returns the module versions seen, sorted.
func (s Stats) Versions() []string {
	vs := make([]string, 0, len(s.ByVersion))
	for v := range s.ByVersion {
		vs = append(vs, v)
	}
	sort.Strings(vs)
	return vs
}

// Classify returns the kind of a GOPROXY or checksum database request path
// (as decoded in URL.Path) and, for a request about one module version, that
// version as "path@version" with the case-escaping undone. A path that does
// not unescape is classified by its shape and keeps its escaped name.
func Classify(urlPath string) (kind, version string) {
	p := strings.TrimPrefix(urlPath, "/")
	if rest, ok := strings.CutPrefix(p, "sumdb/"); ok {
		_, op, _ := strings.Cut(rest, "/") // after the database's name
		switch {
		case op == "supported":
			return KindSupported, ""
		case op == "latest":
			return KindSumLatest, ""
		case strings.HasPrefix(op, "tile/"):
			return KindTile, ""
		case strings.HasPrefix(op, "lookup/"):
			mod, vers, ok := strings.Cut(strings.TrimPrefix(op, "lookup/"), "@")
			if !ok {
				return KindOther, ""
			}
			return KindLookup, unescape(mod, vers)
		}
		return KindOther, ""
	}
	if strings.HasSuffix(p, "/@latest") {
		return KindLatest, ""
	}
	mod, file, ok := strings.Cut(p, "/@v/")
	if !ok {
		return KindOther, ""
	}
	if file == "list" {
		return KindList, ""
	}
	for _, k := range []string{KindInfo, KindMod, KindZip} {
		if vers, ok := strings.CutSuffix(file, "."+k); ok && vers != "" {
			return k, unescape(mod, vers)
		}
	}
	return KindOther, ""
}

func unescape(escMod, escVers string) string {
	mod, err1 := module.UnescapePath(escMod)
	vers, err2 := module.UnescapeVersion(escVers)
	if err1 != nil || err2 != nil {
		return escMod + "@" + escVers
	}
	return mod + "@" + vers
}
