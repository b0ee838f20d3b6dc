package server_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
)

// hideVersion is a gate that hides (and refuses) one version of
// example.com/greet, which the test changes between requests as a policy
// reload or another caller would.
type hideVersion struct{ v atomic.Value }

func (h *hideVersion) hidden() string { s, _ := h.v.Load().(string); return s }

func (h *hideVersion) Admit(ctx context.Context, req goproxy.Request) error {
	if req.Module == "example.com/greet" && req.Version != "" && req.Version == h.hidden() {
		return forbidden{"example.com/greet@" + req.Version + " is denied by policy rule \"test\""}
	}
	return nil
}

func (h *hideVersion) FilterVersions(ctx context.Context, mod string, versions []string) ([]string, error) {
	var out []string
	for _, v := range versions {
		if mod != "example.com/greet" || v != h.hidden() {
			out = append(out, v)
		}
	}
	return out, nil
}

// A kept list is the upstream's answer: the gates filter it on every
// request, so a policy change shows at once, without an upstream request.
func TestPolicyFiltersKeptLists(t *testing.T) {
	gate := &hideVersion{}
	gate.v.Store("v1.0.0")
	e := newTestEnvWith(t, func(o *modcache.Options) { o.ListTTL, o.ListMaxStale = time.Hour, time.Hour }, gate)
	get := func(p string) string {
		t.Helper()
		resp, body := do(t, "GET", e.srv.URL+p)
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, body)
		}
		return body
	}
	if list := get("/example.com/greet/@v/list"); list != "v1.1.0\n" {
		t.Errorf("list hiding v1.0.0 = %q", list)
	}
	if latest := get("/example.com/greet/@latest"); !strings.Contains(latest, `"v1.1.0"`) {
		t.Errorf("@latest hiding v1.0.0 = %q", latest)
	}
	gate.v.Store("v1.1.0")
	if list := get("/example.com/greet/@v/list"); list != "v1.0.0\n" {
		t.Errorf("kept list, now hiding v1.1.0 = %q", list)
	}
	if latest := get("/example.com/greet/@latest"); !strings.Contains(latest, `"v1.0.0"`) {
		t.Errorf("kept @latest, now hiding v1.1.0 = %q, want v1.0.0", latest)
	}
	if n := e.up.Count("/example.com/greet/@v/list"); n != 1 {
		t.Errorf("upstream saw %d list requests, want 1 (the answer is kept)", n)
	}
	if n := e.up.Count("/example.com/greet/@latest"); n != 1 {
		t.Errorf("upstream saw %d @latest requests, want 1 (the answer is kept)", n)
	}
	last := e.done[len(e.done)-1]
	if last.Source != string(modcache.FromCache) {
		t.Errorf("audit source of a kept answer = %q, want cache", last.Source)
	}
}

// A prefetch may store what a gate would refuse, but never serves it: the
// gates decide every request, hits included.
func TestPrefetchedArtifactStillGated(t *testing.T) {
	gate := &hideVersion{}
	e := newTestEnvWith(t, func(o *modcache.Options) { o.PrefetchWorkers = 2 }, gate)
	resp, body := do(t, "GET", e.srv.URL+"/example.com/greet/@v/v1.1.0.info")
	if resp.StatusCode != 200 {
		t.Fatalf(".info: %d %s", resp.StatusCode, body)
	}
	zip := goproxy.ArtifactName("example.com/greet", "v1.1.0", goproxy.KindZip)
	for deadline := time.Now().Add(5 * time.Second); e.cache.PrefetchesPending() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the prefetches did not finish")
		}
	}
	if _, err := e.store.Stat(context.Background(), zip); err != nil {
		t.Fatalf("the zip was not prefetched: %v", err)
	}
	gate.v.Store("v1.1.0") // a policy reload, or another caller's rules
	resp, body = do(t, "GET", e.srv.URL+"/"+zip)
	if resp.StatusCode != 403 || !strings.Contains(body, "denied") {
		t.Errorf("prefetched, now denied zip: %d %q, want 403", resp.StatusCode, body)
	}
}
