// Package modcache is the core of gatehouse: it answers for module artifacts
// from storage, and on a miss fetches them from their upstream once (however
// many clients ask at the same time), verifies them, and stores them
// atomically before anyone is served.
package modcache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gatehouse-dev/gatehouse/internal/flight"
	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/retry"
	"github.com/gatehouse-dev/gatehouse/internal/slots"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

// A Route says where a module comes from and who vouches for its bytes.
type Route struct {
	Name    string          // for logs: "public", "private"
	Source  upstream.Source // where artifacts are fetched
	Checker verify.Checker  // nil: not verified (a logged, documented risk)
	// Private routes never reveal upstream details (host names, VCS
	// errors) in errors meant for clients.
	Private bool
}

// Options configures a Cache.
type Options struct {
	Store      storage.Backend
	Route      func(modPath string) Route
	TempDir    string        // where zips are staged while verified
	MaxFetches int           // upstream fetches in flight at once
	Timeout    time.Duration // for one upstream fetch
	MaxZipSize int64
	Logger     *slog.Logger
	// PrefetchWorkers is how many upstream fetches at once may fetch the
	// siblings of a client's miss (.info after .mod; .mod and .zip after
	// .info; .info and .mod after .zip) before they are asked for, apart
	// from MaxFetches. 0: no prefetch.
	PrefetchWorkers int
	// Observer is told of upstream fetches and refused downloads (for
	// metrics); nil: no one.
	Observer Observer
	// NotFoundTTL is how long a private route's "not found" is remembered
	// and answered without asking its source again (0: 30s; <0: never),
	// so that asking for the same missing path over and over costs one
	// child go command, not one each time. Failures are not remembered.
	NotFoundTTL time.Duration
	// Owner names the identity a request is counted for (the private
	// source's fair share); nil: private fetches are shared by everyone.
	Owner func(context.Context) string
	// ListTTL is how long the upstream's answer to @v/list and @latest is
	// kept and served from memory; an answer up to twice as old is served
	// while it is fetched again in the background (0: not kept; every
	// request asks the upstream). PrivateListTTL is the same for private
	// routes. ListMaxStale is how old a kept answer may be and still be
	// served when the upstream fails.
	ListTTL, PrivateListTTL, ListMaxStale time.Duration
	// ListQueue is how many @v/list rewrites may wait to be done in the
	// background, off the request path (0: each fetch rewrites its list
	// before it answers). Close writes those still waiting.
	ListQueue int
}

// Observer watches the cache's upstream traffic. Its calls must be cheap
// and must not block.
type Observer interface {
	// FetchStarted and FetchDone bracket one upstream fetch of route (its
	// Name); result is "ok", "not_found" or "error".
	FetchStarted()
	FetchDone(route, result string, d time.Duration)
	// VerificationFailed is called once for each download refused because
	// its checksum did not verify (a *verify.MismatchError or
	// *verify.SecurityError): the security signal.
	VerificationFailed()
}

// Cache serves artifacts from storage and fills it from upstreams.
type Cache struct {
	opts  Options
	log   *slog.Logger
	group flight.Group
	slots chan struct{} // bounds upstream fetches; hits never take one
	gone  notFound      // recent "not found" answers of private routes
	obs   Observer
	locks [64]sync.Mutex
	// streams are the zip fetches clients follow as they arrive.
	streams zipStreams
	lists   *listQueue // nil: lists are rewritten inline
	// zipRetry repeats a zip transfer that broke off in its body.
	zipRetry retry.Policy

	lastUpstreamOK   atomic.Int64 // unix nanos of the last answer from an upstream
	lastUpstreamFail atomic.Int64

	// answers keeps upstream answers to @v/list and @latest for ListTTL.
	answers answers
	// prefetch fetches the siblings of misses; nil: no prefetch.
	prefetch *prefetcher
}

// New returns a Cache.
func New(opts Options) (*Cache, error) {
	if opts.Store == nil || opts.Route == nil {
		return nil, errors.New("modcache: Store and Route are required")
	}
	if opts.MaxFetches <= 0 {
		opts.MaxFetches = 32
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 2 * time.Minute
	}
	if opts.MaxZipSize <= 0 {
		opts.MaxZipSize = 500 << 20
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.NotFoundTTL == 0 {
		opts.NotFoundTTL = 30 * time.Second
	}
	ownTemp := opts.TempDir != ""
	if !ownTemp {
		opts.TempDir = os.TempDir()
	}
	if err := os.MkdirAll(opts.TempDir, 0o700); err != nil {
		return nil, err
	}
	if ownTemp {
		removeStaleZips(opts.TempDir, opts.Timeout)
	}
	obs := opts.Observer
	if obs == nil {
		obs = noObserver{}
	}
	c := &Cache{opts: opts, log: opts.Logger, slots: make(chan struct{}, opts.MaxFetches), obs: obs, zipRetry: retry.Default}
	if opts.PrefetchWorkers > 0 {
		c.prefetch = &prefetcher{workers: make(chan struct{}, opts.PrefetchWorkers)}
	}
	if opts.ListQueue > 0 {
		c.startListQueue(opts.ListQueue)
	}
	return c, nil
}

// removeStaleZips removes staged zips that a process which died mid-fetch
// left in dir (up to 500 MiB each). A fetch ends within the timeout, so a
// zip older than that is no one's, even with another process sharing dir.
func removeStaleZips(dir string, timeout time.Duration) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasPrefix(e.Name(), zipTempPrefix) {
			continue
		}
		if fi, err := e.Info(); err == nil && time.Since(fi.ModTime()) > timeout {
			os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Route returns the route of a module path.
func (c *Cache) Route(modPath string) Route { return c.opts.Route(modPath) }

// Source says where an answer came from, for logs and the audit trail.
type Source string

const (
	FromCache    Source = "cache"
	FromUpstream Source = "upstream"
)

// Artifact is an open stored .info, .mod or .zip.
type Artifact struct {
	storage.Object
	Source Source
	H1     string // hash verified during this request, if it fetched
}

// Open returns the artifact of kind (info, mod or zip) for path@version,
// fetching and verifying it first if it is not stored yet.
func (c *Cache) Open(ctx context.Context, modPath, version string, kind goproxy.Kind) (*Artifact, error) {
	name := goproxy.ArtifactName(modPath, version, kind)
	obj, err := c.opts.Store.Open(ctx, name)
	if err == nil {
		c.claimed(ctx, modPath, version, kind, name)
		return &Artifact{Object: obj, Source: FromCache}, nil
	}
	if !errors.Is(err, storage.ErrNotExist) {
		return nil, &StorageError{err}
	}
	v, err := c.flight(ctx, modPath, name, func(ctx context.Context) (any, error) {
		// Another replica or an earlier flight may have stored it meanwhile.
		if _, err := c.opts.Store.Stat(ctx, name); err == nil {
			return "", nil
		}
		return c.fetch(ctx, modPath, version, kind, name)
	})
	if err != nil {
		return nil, err
	}
	c.prefetchSiblings(ctx, modPath, version, kind)
	obj, err = c.opts.Store.Open(ctx, name)
	if err != nil {
		return nil, &StorageError{err}
	}
	return &Artifact{Object: obj, Source: FromUpstream, H1: v.(string)}, nil
}

// ReadInfo returns the stored or fetched .info of path@version, decoded.
func (c *Cache) ReadInfo(ctx context.Context, modPath, version string) (*Info, error) {
	data, err := c.readAll(ctx, modPath, version, goproxy.KindInfo, 1<<20)
	if err != nil {
		return nil, err
	}
	return parseInfo(data, version)
}

// ReadGoMod returns the stored or fetched (and verified) go.mod of path@version.
func (c *Cache) ReadGoMod(ctx context.Context, modPath, version string) ([]byte, error) {
	return c.readAll(ctx, modPath, version, goproxy.KindMod, 16<<20)
}

func (c *Cache) readAll(ctx context.Context, modPath, version string, kind goproxy.Kind, limit int64) ([]byte, error) {
	// What the proxy reads for itself (policy facts of every listed
	// version, say) is no sign that a client wants the rest.
	a, err := c.Open(withoutPrefetch(ctx), modPath, version, kind)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	return io.ReadAll(io.LimitReader(a, limit))
}

// flight runs fetch once per key at a time. The fetch is detached from the
// cancellation of the request that started it (others may be waiting for
// it, and a result is stored for the next), bounded by the upstream
// timeout, and takes one upstream slot; but one still waiting for its slot
// (or, on a private route, for a child go command) when every request that
// wanted it has gone is dropped. A private route's "not found" is
// remembered for NotFoundTTL.
func (c *Cache) flight(ctx context.Context, modPath, key string, fetch func(context.Context) (any, error)) (any, error) {
	return c.flightIn(ctx, c.slots, modPath, key, fetch)
}

// flightIn is flight taking its slot from slots; nil: the caller holds one
// of its own (a prefetch worker's).
func (c *Cache) flightIn(ctx context.Context, slots chan struct{}, modPath, key string, fetch func(context.Context) (any, error)) (any, error) {
	route := c.opts.Route(modPath)
	remember := route.Private && c.opts.NotFoundTTL > 0
	if remember {
		if err := c.gone.get(key); err != nil {
			return nil, err
		}
	}
	fkey := key
	if route.Private && c.opts.Owner != nil {
		// A private fetch waits in its starter's fair share of the private
		// source's slots: another identity that joined it would wait behind
		// the starter's backlog. Each identity waits for its own.
		fkey = key + "\x00" + c.opts.Owner(ctx)
	}
	v, err := c.group.Do(ctx, fkey, func(fctx context.Context) (v any, err error) {
		defer func() {
			if p := recover(); p != nil {
				c.log.Error("panic during upstream fetch", "key", key, "panic", fmt.Sprint(p))
				v, err = nil, fmt.Errorf("internal error fetching %s", key)
			}
		}()
		fctx, cancel := context.WithTimeout(fctx, c.opts.Timeout)
		defer cancel()
		// A private source shares its own slots fairly among identities; a
		// shared upstream slot held while waiting for one would let one
		// identity's backlog hold up everyone's fetches.
		if slots != nil && !route.Private {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
			case <-fctx.Done():
				return nil, &UpstreamError{Err: fmt.Errorf("waiting for an upstream slot: %w", fctx.Err())}
			}
		}
		v, err = fetch(fctx)
		c.noteUpstream(err)
		if remember && errors.Is(err, upstream.ErrNotFound) {
			c.gone.put(key, err, c.opts.NotFoundTTL)
		}
		return v, err
	})
	return v, err
}

// notFound remembers recent "not found" answers by flight key. It holds a
// bounded number: a client asking for random paths must not grow it.
type notFound struct {
	mu      sync.Mutex
	entries map[string]notFoundEntry
}

type notFoundEntry struct {
	err     error
	expires time.Time
}

const maxNotFound = 10000

func (n *notFound) get(key string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	e, ok := n.entries[key]
	if !ok {
		return nil
	}
	if time.Now().After(e.expires) {
		delete(n.entries, key)
		return nil
	}
	return e.err
}

func (n *notFound) put(key string, err error, ttl time.Duration) {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.entries == nil {
		n.entries = map[string]notFoundEntry{}
	}
	if len(n.entries) >= maxNotFound {
		for k, e := range n.entries {
			if now.After(e.expires) {
				delete(n.entries, k)
			}
		}
		for k := range n.entries {
			if len(n.entries) < maxNotFound {
				break
			}
			delete(n.entries, k) // an arbitrary one: the cache is only a saving
		}
	}
	n.entries[key] = notFoundEntry{err: err, expires: now.Add(ttl)}
}

func (c *Cache) noteUpstream(err error) {
	now := time.Now().UnixNano()
	var ue *UpstreamError
	var busy *slots.BusyError
	if errors.As(err, &busy) {
		return // a client's backlog, not the upstream's health
	}
	if err == nil || errors.Is(err, upstream.ErrNotFound) || !errors.As(err, &ue) {
		c.lastUpstreamOK.Store(now)
	} else {
		c.lastUpstreamFail.Store(now)
	}
}

type noObserver struct{}

func (noObserver) FetchStarted()                           {}
func (noObserver) FetchDone(string, string, time.Duration) {}
func (noObserver) VerificationFailed()                     {}

// observeFetch tells the Observer that a fetch of route starts, and
// returns the function that tells it how the fetch ended. Defer that
// function itself, with the fetch's named error (defer done(&err)): then
// it also sees a panic, counts it as an error, and panics on for flight
// to recover.
func (c *Cache) observeFetch(route string) func(*error) {
	start := time.Now()
	c.obs.FetchStarted()
	return func(errp *error) {
		p := recover()
		result := "ok"
		switch {
		case p != nil:
			result = "error"
		case errors.Is(*errp, upstream.ErrNotFound):
			result = "not_found"
		case *errp != nil:
			result = "error"
		}
		c.obs.FetchDone(route, result, time.Since(start))
		if p != nil {
			panic(p)
		}
	}
}

// UpstreamHealth reports when an upstream last answered and last failed.
func (c *Cache) UpstreamHealth() (lastOK, lastFail time.Time) {
	ok, fail := c.lastUpstreamOK.Load(), c.lastUpstreamFail.Load()
	if ok != 0 {
		lastOK = time.Unix(0, ok)
	}
	if fail != 0 {
		lastFail = time.Unix(0, fail)
	}
	return lastOK, lastFail
}

// lock serialises updates of one module's stored list.
func (c *Cache) lock(modPath string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(modPath))
	return &c.locks[h.Sum32()%uint32(len(c.locks))]
}

// updateList rewrites the stored @v/list from the versions in storage, so
// the store stays a valid GOPROXY=file:// tree. It is derived from the
// directory, not appended to, so it cannot drift from what is stored.
func (c *Cache) updateList(ctx context.Context, modPath string) error {
	mu := c.lock(modPath)
	mu.Lock()
	defer mu.Unlock()
	versions, err := c.storedVersions(ctx, modPath)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, v := range versions {
		if !module.IsPseudoVersion(v) {
			b.WriteString(v + "\n")
		}
	}
	return c.opts.Store.Put(ctx, goproxy.ListName(modPath), strings.NewReader(b.String()))
}

// storedVersions returns the versions with any artifact in storage, sorted.
func (c *Cache) storedVersions(ctx context.Context, modPath string) ([]string, error) {
	names, err := c.opts.Store.List(ctx, path.Dir(goproxy.ListName(modPath)))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var versions []string
	for _, n := range names {
		ext := path.Ext(n)
		if ext != ".info" && ext != ".mod" && ext != ".zip" {
			continue
		}
		v, err := module.UnescapeVersion(strings.TrimSuffix(n, ext))
		if err != nil || !semver.IsValid(v) || seen[v] {
			continue
		}
		seen[v] = true
		versions = append(versions, v)
	}
	sort.Slice(versions, func(i, j int) bool { return semver.Compare(versions[i], versions[j]) < 0 })
	return versions, nil
}

// Info is the decoded .info of a version.
type Info struct {
	Version string
	Time    time.Time // the commit time: chosen by the author
	// Origin is where the version came from, when the source says (the
	// go command and proxy.golang.org write it; older .info files lack it).
	Origin *Origin `json:",omitempty"`
}

// Origin identifies a version's commit: the same hash is the same content
// under another name (a tag and a pseudo-version of one commit).
type Origin struct {
	VCS  string `json:",omitempty"`
	Hash string `json:",omitempty"` // full commit hash
	Ref  string `json:",omitempty"` // refs/tags/v1.0.0, when a tag
}

func parseInfo(data []byte, want string) (*Info, error) {
	var info Info
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, &InvalidError{Msg: "invalid .info JSON"}
	}
	if !semver.IsValid(info.Version) || module.CanonicalVersion(info.Version) != info.Version {
		return nil, &InvalidError{Msg: fmt.Sprintf(".info has invalid version %q", info.Version)}
	}
	if want != "" && info.Version != want {
		return nil, &InvalidError{Msg: fmt.Sprintf(".info is for %s, not %s", info.Version, want)}
	}
	// The protocol's .info always has the commit time; a stored one is
	// served for good, so one without is refused like any other junk.
	if info.Time.IsZero() {
		return nil, &InvalidError{Msg: fmt.Sprintf(".info of %s has no time", info.Version)}
	}
	return &info, nil
}

// Writable reports whether the store takes writes (for readiness).
func (c *Cache) Writable(ctx context.Context) error { return c.opts.Store.Writable(ctx) }
