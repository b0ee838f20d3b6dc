package modcache

import (
	"context"
	"errors"
	"io"
	"slices"
	"sort"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// List returns the versions of modPath. It asks the upstream (lists change,
// so they are not served from storage while the upstream answers), or
// serves its answer kept for ListTTL, and falls back to the versions in
// storage when the upstream fails. The caller may change the slice.
func (c *Cache) List(ctx context.Context, modPath string) ([]string, Source, error) {
	route := c.opts.Route(modPath)
	v, src, err := c.answer(ctx, modPath, "list "+modPath, func(ctx context.Context) (_ any, err error) {
		done := c.observeFetch(route.Name)
		defer done(&err)
		list, err := route.Source.List(ctx, modPath)
		if err != nil {
			return nil, upstreamErr(err)
		}
		return cleanList(modPath, list), nil
	})
	if err == nil {
		return slices.Clone(v.([]string)), src, nil
	}
	stored, serr := c.storedVersions(ctx, modPath)
	if serr != nil || len(stored) == 0 {
		return nil, "", err
	}
	if !errors.Is(err, upstream.ErrNotFound) {
		c.log.Warn("upstream list failed; serving stored versions", "module", modPath, "err", err)
	}
	var tagged []string
	for _, v := range stored {
		if !module.IsPseudoVersion(v) {
			tagged = append(tagged, v)
		}
	}
	return tagged, FromCache, nil
}

// cleanList keeps canonical semantic versions, sorted, without duplicates.
// A version too long for any request to name (an upstream's junk) goes too.
func cleanList(modPath string, list []string) []string {
	seen := map[string]bool{}
	out := []string{}
	room := goproxy.MaxPathLen - len("/"+modPath+"/@v/.info")
	for _, v := range list {
		if len(v) <= room && semver.IsValid(v) && module.CanonicalVersion(v) == v && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return semver.Compare(out[i], out[j]) < 0 })
	return out
}

// Latest returns the .info JSON of modPath's @latest, from the upstream (or
// its answer kept for ListTTL), or when it fails from the highest version in
// storage. The caller must not change the bytes.
func (c *Cache) Latest(ctx context.Context, modPath string) ([]byte, Source, error) {
	route := c.opts.Route(modPath)
	v, src, err := c.answer(ctx, modPath, "latest "+modPath, func(ctx context.Context) (_ any, err error) {
		done := c.observeFetch(route.Name)
		defer done(&err)
		data, err := route.Source.Latest(ctx, modPath)
		if err != nil {
			return nil, upstreamErr(err)
		}
		if _, err := parseInfo(data, ""); err != nil {
			return nil, err
		}
		return data, nil
	})
	if err == nil {
		return v.([]byte), src, nil
	}
	stored, serr := c.storedVersions(ctx, modPath)
	if serr != nil || len(stored) == 0 {
		return nil, "", err
	}
	// Prefer releases, then prereleases, then pseudo-versions, as the go command does.
	best := PickLatest(stored)
	a, oerr := c.Open(ctx, modPath, best, goproxy.KindInfo)
	if oerr != nil {
		return nil, "", err
	}
	defer a.Close()
	data, rerr := io.ReadAll(io.LimitReader(a, 1<<20))
	if rerr != nil {
		return nil, "", err
	}
	c.log.Warn("upstream latest failed; serving the newest stored version", "module", modPath, "version", best, "err", err)
	return data, FromCache, nil
}

// PickLatest returns the version @latest means among versions: the highest
// release, else the highest prerelease, else the highest pseudo-version.
func PickLatest(versions []string) string {
	rank := func(v string) int {
		switch {
		case module.IsPseudoVersion(v):
			return 0
		case semver.Prerelease(v) != "":
			return 1
		}
		return 2
	}
	best := ""
	for _, v := range versions {
		if best == "" || rank(v) > rank(best) || rank(v) == rank(best) && semver.Compare(v, best) > 0 {
			best = v
		}
	}
	return best
}
