package enforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/modindex"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// Source is what the facts are read from: the module cache, so that every
// .info and go.mod a decision looks at is fetched once, verified and kept.
type Source interface {
	ReadInfo(ctx context.Context, modPath, version string) (*modcache.Info, error)
	ReadGoMod(ctx context.Context, modPath, version string) ([]byte, error)
	List(ctx context.Context, modPath string) ([]string, modcache.Source, error)
	Latest(ctx context.Context, modPath string) ([]byte, modcache.Source, error)
}

// facts implements policy.Facts over a Source, with memory caches: a
// version's first appearance never changes once known, so it is kept (up
// to maxTimes entries); retractions come from the latest go.mod, which moves
// when a new version is tagged, so they are kept for retractTTL.
type facts struct {
	src        Source
	retractTTL time.Duration
	clock      clock
	log        *slog.Logger

	mu        sync.Mutex
	times     map[string]time.Time
	commits   map[string]commit // path@tag → its commit, from the .info
	retracts  map[string]retractEntry
	aliases   map[string]aliasEntry
	fetchOnce singleflight.Group
	// concurrency bounds the .info reads of one Aliases.
	concurrency int
}

// clock is what min_age measures age with.
type clock struct {
	index      *modindex.Index // nil: none
	seen       *firstSeen
	private    func(modPath string) bool
	commitTime bool // fall back to the .info Time rather than first sight
}

// commit is what a tag's .info says of its commit.
type commit struct {
	time time.Time
	hash string // "": the .info has no Origin (older ones)
}

type aliasEntry struct {
	at   time.Time
	tags []string
}

const maxTimes = 200_000

type retractEntry struct {
	at    time.Time
	rules []*modfile.Retract
}

func newFacts(src Source, ttl time.Duration, concurrency int, c clock, log *slog.Logger) *facts {
	return &facts{src: src, retractTTL: ttl, concurrency: concurrency, clock: c, log: log, times: map[string]time.Time{},
		commits: map[string]commit{}, retracts: map[string]retractEntry{}, aliases: map[string]aliasEntry{}}
}

// Published returns when the version first appeared, on a clock its
// author cannot set: for a public module, when the module index first
// listed it (or, if the index does not list it though it has been read
// past the moment gatehouse had the version, the start of the index's
// window: older than that); for a private module, and for a public one
// the index cannot date, when gatehouse first saw it — or, only if so
// configured, the commit time of its .info. A time from the index is the
// earlier of the two sightings.
func (f *facts) Published(ctx context.Context, modPath, version string) (time.Time, error) {
	key := modPath + "@" + version
	f.mu.Lock()
	t, ok := f.times[key]
	f.mu.Unlock()
	if ok {
		return t, nil
	}
	// The .info first: the version must exist, and once the upstream has
	// served it the mirror has it, so the index can be asked about it.
	info, err := f.src.ReadInfo(ctx, modPath, version)
	if err != nil {
		return time.Time{}, err
	}
	if info.Time.IsZero() {
		return time.Time{}, fmt.Errorf("the .info of %s has no Time", key)
	}
	seen := f.clock.seen.Record(key)
	switch {
	case f.clock.index != nil && !f.clock.private(modPath):
		t, _, err = f.clock.index.Lookup(ctx, modPath, version, seen)
		if errors.Is(err, modindex.ErrUnknown) {
			// Not cached: once the index is read far enough, it dates it.
			f.log.Debug("policy: the module index cannot date a version; using the fallback clock", "module", modPath, "version", version, "err", err)
			return f.fallback(info, seen), nil
		}
		if err != nil {
			return time.Time{}, err
		}
		if seen.Before(t) {
			t = seen
		}
	default:
		t = f.fallback(info, seen)
	}
	f.mu.Lock()
	if len(f.times) >= maxTimes {
		clear(f.times) // rare; refilled from storage, which is cheap
	}
	f.times[key] = t
	f.mu.Unlock()
	return t, nil
}

// fallback is the clock for versions no index dates: first sight, unless
// the commit time (which the author chooses) is configured.
func (f *facts) fallback(info *modcache.Info, seen time.Time) time.Time {
	if f.clock.commitTime {
		return info.Time
	}
	return seen
}

func (f *facts) Retracted(ctx context.Context, modPath, version string) (bool, string, error) {
	rules, err := f.retractions(ctx, modPath)
	if err != nil {
		return false, "", err
	}
	for _, r := range rules {
		if semver.Compare(version, r.Low) >= 0 && semver.Compare(version, r.High) <= 0 {
			return true, r.Rationale, nil
		}
	}
	return false, "", nil
}

// retractions returns the retract directives of modPath's latest go.mod,
// as the go command finds them: the latest version is the highest
// release of the list (else prerelease, else the upstream's @latest).
func (f *facts) retractions(ctx context.Context, modPath string) ([]*modfile.Retract, error) {
	f.mu.Lock()
	e, ok := f.retracts[modPath]
	f.mu.Unlock()
	if ok && time.Since(e.at) < f.retractTTL {
		return e.rules, nil
	}
	v, err, _ := f.fetchOnce.Do(modPath, func() (any, error) {
		// Shared by every request waiting here: one client going away must
		// not fail the others (the cache bounds the fetches by its timeout).
		rules, err := f.loadRetractions(context.WithoutCancel(ctx), modPath)
		if err != nil {
			return nil, err
		}
		f.mu.Lock()
		f.retracts[modPath] = retractEntry{at: time.Now(), rules: rules}
		f.mu.Unlock()
		return rules, nil
	})
	if err != nil {
		return nil, err
	}
	return v.([]*modfile.Retract), nil
}

func (f *facts) loadRetractions(ctx context.Context, modPath string) ([]*modfile.Retract, error) {
	list, _, err := f.src.List(ctx, modPath)
	if err != nil && !errors.Is(err, upstream.ErrNotFound) {
		return nil, err
	}
	latest := modcache.PickLatest(list)
	if latest == "" {
		data, _, err := f.src.Latest(ctx, modPath)
		if errors.Is(err, upstream.ErrNotFound) {
			return nil, nil // no versions at all: nothing is retracted
		}
		if err != nil {
			return nil, err
		}
		var info struct{ Version string }
		if err := json.Unmarshal(data, &info); err != nil {
			return nil, err
		}
		latest = info.Version
	}
	data, err := f.src.ReadGoMod(ctx, modPath, latest)
	if err != nil {
		return nil, err
	}
	mf, err := modfile.ParseLax("go.mod", data, nil)
	if err != nil {
		// An unparseable latest go.mod retracts nothing, as for the go command.
		return nil, nil
	}
	return mf.Retract, nil
}

// Aliases returns the tags of modPath that may be the commit of the
// pseudo-version: those whose .info names a commit hash that starts with
// the pseudo-version's revision, and those whose .info has no hash but
// the commit time the pseudo-version encodes (the go command checks that
// time against the commit, so another time is another commit). The tags
// are those of the module's list; the answer is kept for retractTTL, like
// retractions, because a new tag can name an old commit.
func (f *facts) Aliases(ctx context.Context, modPath, pseudo string) ([]string, error) {
	rev, err := module.PseudoVersionRev(pseudo)
	if err != nil {
		return nil, err
	}
	ptime, err := module.PseudoVersionTime(pseudo)
	if err != nil {
		return nil, err
	}
	key := modPath + "@" + pseudo
	f.mu.Lock()
	e, ok := f.aliases[key]
	f.mu.Unlock()
	if ok && time.Since(e.at) < f.retractTTL {
		return e.tags, nil
	}
	list, _, err := f.src.List(ctx, modPath)
	if errors.Is(err, upstream.ErrNotFound) {
		list, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	same := make([]bool, len(list))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(f.concurrency)
	for i, tag := range list {
		if module.IsPseudoVersion(tag) {
			continue
		}
		g.Go(func() error {
			c, err := f.commit(gctx, modPath, tag)
			if errors.Is(err, upstream.ErrNotFound) {
				return nil // not served, so not a way in either
			}
			if err != nil {
				return fmt.Errorf("%s@%s: %w", modPath, tag, err)
			}
			if c.hash != "" {
				same[i] = strings.HasPrefix(c.hash, strings.ToLower(rev))
			} else {
				same[i] = c.time.Truncate(time.Second).Equal(ptime)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var tags []string
	for i, ok := range same {
		if ok {
			tags = append(tags, list[i])
		}
	}
	f.mu.Lock()
	if len(f.aliases) >= maxTimes {
		clear(f.aliases)
	}
	f.aliases[key] = aliasEntry{at: time.Now(), tags: tags}
	f.mu.Unlock()
	return tags, nil
}

// commit returns what the .info of modPath@tag says of its commit; it
// never changes once stored, so it is kept.
func (f *facts) commit(ctx context.Context, modPath, tag string) (commit, error) {
	key := modPath + "@" + tag
	f.mu.Lock()
	c, ok := f.commits[key]
	f.mu.Unlock()
	if ok {
		return c, nil
	}
	info, err := f.src.ReadInfo(ctx, modPath, tag)
	if err != nil {
		return commit{}, err
	}
	c = commit{time: info.Time}
	// Git and Mercurial pseudo-versions carry the hash's first 12 digits;
	// other systems (svn: a padded revision number) are matched by time.
	if o := info.Origin; o != nil && (o.VCS == "git" || o.VCS == "hg" || o.VCS == "") {
		c.hash = strings.ToLower(o.Hash)
	}
	f.mu.Lock()
	if len(f.commits) >= maxTimes {
		clear(f.commits)
	}
	f.commits[key] = c
	f.mu.Unlock()
	return c, nil
}
