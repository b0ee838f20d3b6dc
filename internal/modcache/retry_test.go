package modcache_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// brokenZips stands in front of the test upstream and cuts the first
// breaks zip transfers off with a TCP reset after half the bytes.
func brokenZips(t *testing.T, e **env, breaks int32) (*httptest.Server, *atomic.Int32) {
	var zips atomic.Int32
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		target, _ := url.Parse((*e).up.URL)
		if strings.HasSuffix(r.URL.Path, ".zip") {
			if zips.Add(1) <= breaks {
				zip := (*e).up.Artifacts("example.com/hello", "v1.0.0").Zip
				conn, buf, _ := w.(http.Hijacker).Hijack()
				buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(len(zip)) + "\r\n\r\n")
				buf.Write(zip[:len(zip)/2])
				buf.Flush()
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
				return
			}
		}
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	t.Cleanup(front.Close)
	return front, &zips
}

func throughFront(front *httptest.Server) func(*modcache.Options) {
	return func(o *modcache.Options) {
		chain, _ := upstream.ParseChain(front.URL, http.DefaultClient)
		orig := o.Route
		o.Route = func(p string) modcache.Route {
			r := orig(p)
			r.Source = chain
			return r
		}
	}
}

// A zip whose transfer breaks off is downloaded again from the start: the
// stored zip is the upstream's, whole and verified, and no staged file
// is left behind.
func TestZipTransferRetried(t *testing.T) {
	var e *env
	front, zips := brokenZips(t, &e, 2)
	e = newEnv(t, throughFront(front))
	a, err := e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindZip)
	if err != nil {
		t.Fatalf("zip after two broken transfers: %v", err)
	}
	if got, want := readAll(t, a), e.up.Artifacts("example.com/hello", "v1.0.0").Zip; string(got) != string(want) {
		t.Errorf("stored zip (%d bytes) differs from the upstream's (%d bytes)", len(got), len(want))
	}
	if n := zips.Load(); n != 3 {
		t.Errorf("%d zip requests, want 3", n)
	}
	if left, _ := os.ReadDir(e.tmp); len(left) != 0 {
		t.Errorf("staged files left: %v", left)
	}
}

// A zip that always breaks off is tried a bounded number of times, and
// fails without storing anything.
func TestZipTransferRetryBounded(t *testing.T) {
	var e *env
	front, zips := brokenZips(t, &e, 100)
	e = newEnv(t, throughFront(front))
	_, err := e.cache.Open(context.Background(), "example.com/hello", "v1.0.0", goproxy.KindZip)
	var ue *modcache.UpstreamError
	if !strings.Contains(err.Error(), "reading zip") || !errors.As(err, &ue) {
		t.Fatalf("err %v, want an upstream error reading the zip", err)
	}
	if n := zips.Load(); n != 3 {
		t.Errorf("%d zip requests, want 3", n)
	}
	if _, err := e.store.Stat(context.Background(), goproxy.ArtifactName("example.com/hello", "v1.0.0", goproxy.KindZip)); err == nil {
		t.Error("a broken zip was stored")
	}
	if left, _ := os.ReadDir(e.tmp); len(left) != 0 {
		t.Errorf("staged files left: %v", left)
	}
}
