package guard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
)

// maxNamedVolumes is the most named volumes one container create may
// mount. Each is looked up in dockerd for the body rules, so without a cap
// a body of a few hundred KiB would cost thousands of lookups.
const maxNamedVolumes = 100

func tooManyVolumes(n int) *refusal {
	return &refusal{status: http.StatusForbidden, rule: "volume-limit",
		reason: fmt.Sprintf("the container would mount %d named volumes; at most %d are allowed", n, maxNamedVolumes)}
}

// checkVolumeCount refuses a create body that mounts more than
// maxNamedVolumes named volumes, before any of them is looked up. Both the
// HostConfig and the top-level fields that dockerd 20.10 still reads count.
// A body that does not decode is left to the body rules.
func checkVolumeCount(body []byte) *refusal {
	b, err := parseCreate(body)
	if err != nil {
		return nil
	}
	n := len(b.hostConfig.namedVolumes())
	if b.HostConfig != nil {
		n += len(b.HostConfig.namedVolumes())
	}
	if n > maxNamedVolumes {
		return tooManyVolumes(n)
	}
	return nil
}

type volumeCacheKey struct{}

// volumeCache holds one request's answers about volumes: the first volume
// is inspected alone; a second one fetches the whole list in one call, and
// the rest are answered from it, so a request costs at most two lookups.
type volumeCache struct {
	mu     sync.Mutex
	asked  int
	listed bool
	known  map[string]volumeInfo
}

type volumeInfo struct {
	Name    string
	Driver  string
	Options map[string]string
	Labels  map[string]string
}

// lookupVolume asks dockerd for a named volume's driver and options, for the
// body rules (inspect.VolumeLookup). name is a valid volume name.
func (g *Guard) lookupVolume(ctx context.Context, name string) (string, map[string]string, bool, error) {
	vc, _ := ctx.Value(volumeCacheKey{}).(*volumeCache)
	if vc == nil {
		v, found, err := g.inspectVolume(ctx, name)
		return v.Driver, v.Options, found, err
	}
	vc.mu.Lock()
	defer vc.mu.Unlock()
	if v, ok := vc.known[name]; ok {
		return v.Driver, v.Options, v.Name != "", nil
	}
	vc.asked++
	if vc.asked > 2*maxNamedVolumes { // Binds and Mounts, at the top level and in HostConfig
		return "", nil, false, errors.New("too many named volumes in one request")
	}
	if vc.known == nil {
		vc.known = map[string]volumeInfo{}
	}
	if vc.asked == 1 {
		v, found, err := g.inspectVolume(ctx, name)
		if err != nil {
			return "", nil, false, err
		}
		vc.known[name] = v // Name "" when not found
		return v.Driver, v.Options, found, nil
	}
	if !vc.listed {
		var list struct{ Volumes []volumeInfo }
		if _, err := g.daemonJSON(ctx, "GET", "/volumes", nil, &list); err != nil {
			return "", nil, false, err
		}
		vc.listed = true
		for _, v := range list.Volumes {
			if _, ok := vc.known[v.Name]; !ok {
				vc.known[v.Name] = v
			}
		}
	}
	v, ok := vc.known[name]
	if !ok {
		vc.known[name] = volumeInfo{}
	}
	return v.Driver, v.Options, ok, nil
}

func (g *Guard) inspectVolume(ctx context.Context, name string) (volumeInfo, bool, error) {
	var v volumeInfo
	found, err := g.daemonJSON(ctx, "GET", "/volumes/"+url.PathEscape(name), nil, &v)
	if err != nil {
		return volumeInfo{}, false, err
	}
	if !found {
		return volumeInfo{}, false, nil
	}
	if v.Name == "" {
		v.Name = name
	}
	return v, true, nil
}
