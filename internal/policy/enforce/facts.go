package enforce

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/semver"
	"golang.org/x/sync/singleflight"

	"github.com/gatehouse-dev/gatehouse/internal/modcache"
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
// version's .info never changes once stored, so its time is kept (up to
// maxTimes entries); retractions come from the latest go.mod, which moves
// when a new version is tagged, so they are kept for retractTTL.
type facts struct {
	src        Source
	retractTTL time.Duration

	mu        sync.Mutex
	times     map[string]time.Time
	retracts  map[string]retractEntry
	fetchOnce singleflight.Group
}

const maxTimes = 200_000

type retractEntry struct {
	at    time.Time
	rules []*modfile.Retract
}

func newFacts(src Source, ttl time.Duration) *facts {
	return &facts{src: src, retractTTL: ttl, times: map[string]time.Time{}, retracts: map[string]retractEntry{}}
}

func (f *facts) Published(ctx context.Context, modPath, version string) (time.Time, error) {
	key := modPath + "@" + version
	f.mu.Lock()
	t, ok := f.times[key]
	f.mu.Unlock()
	if ok {
		return t, nil
	}
	info, err := f.src.ReadInfo(ctx, modPath, version)
	if err != nil {
		return time.Time{}, err
	}
	if info.Time.IsZero() {
		return time.Time{}, fmt.Errorf("the .info of %s has no Time", key)
	}
	f.mu.Lock()
	if len(f.times) >= maxTimes {
		clear(f.times) // rare; refilled from storage, which is cheap
	}
	f.times[key] = info.Time
	f.mu.Unlock()
	return info.Time, nil
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
