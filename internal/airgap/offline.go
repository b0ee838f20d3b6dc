package airgap

import (
	"context"
	"io"
	"net/http"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// OfflineSource is the upstream of serve --offline: the store itself.
// Lists and @latest come from the versions stored; anything else was not
// in the store (the cache asks only on a miss) and is not found.
type OfflineSource struct {
	Store storage.Backend
}

// notInStore is a 404 whose body the server passes on to the client.
func notInStore(path, what string) error {
	return &upstream.StatusError{URL: "offline store", Status: http.StatusNotFound,
		Body: path + what + " is not in the offline store (gatehouse serve --offline: import a bundle that holds it)"}
}

// List returns the versions whose .info is stored.
func (s OfflineSource) List(ctx context.Context, path string) ([]string, error) {
	esc, err := module.EscapePath(path)
	if err != nil {
		return nil, notInStore(path, "")
	}
	names, err := s.Store.List(ctx, esc+"/@v")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, n := range names {
		if ev, ok := strings.CutSuffix(n, ".info"); ok {
			if v, err := module.UnescapeVersion(ev); err == nil && semver.IsValid(v) {
				out = append(out, v)
			}
		}
	}
	if len(out) == 0 {
		return nil, notInStore(path, "")
	}
	semver.Sort(out)
	return out, nil
}

// Latest returns the .info of the highest stored release, or of the
// highest version if none is a release.
func (s OfflineSource) Latest(ctx context.Context, path string) ([]byte, error) {
	vs, err := s.List(ctx, path)
	if err != nil {
		return nil, err
	}
	best := vs[len(vs)-1]
	for j := len(vs) - 1; j >= 0; j-- {
		if semver.Prerelease(vs[j]) == "" {
			best = vs[j]
			break
		}
	}
	esc, _ := module.EscapePath(path)
	ev, _ := module.EscapeVersion(best)
	obj, err := s.Store.Open(ctx, esc+"/@v/"+ev+".info")
	if err != nil {
		return nil, notInStore(path, "@latest")
	}
	defer obj.Close()
	return io.ReadAll(io.LimitReader(obj, 1<<20))
}

func (s OfflineSource) Info(ctx context.Context, path, version string) ([]byte, error) {
	return nil, notInStore(path, "@"+version)
}

func (s OfflineSource) GoMod(ctx context.Context, path, version string) ([]byte, error) {
	return nil, notInStore(path, "@"+version)
}

func (s OfflineSource) Zip(ctx context.Context, path, version string) (io.ReadCloser, error) {
	return nil, notInStore(path, "@"+version)
}

// OfflineChecker is the Checker of serve --offline. Everything it serves
// was checked by import, so nothing is left to check; and it must not be
// the checksum-database client, which a fetch warms before it asks the
// source: that would look the module up over the network (telling the
// database which path was asked for) even though the store lacks it.
type OfflineChecker struct{}

func (OfflineChecker) Check(ctx context.Context, path, version, h1 string) error {
	return notInStore(path, "@"+version)
}
