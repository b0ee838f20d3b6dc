package benchrelay_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/benchrelay"
	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func startRelay(t *testing.T, upstream string, delay time.Duration) (*benchrelay.Relay, string) {
	t.Helper()
	r, err := benchrelay.New(upstream, delay)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func fetch(t *testing.T, url string) (int, []byte, time.Duration) {
	t.Helper()
	start := time.Now()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, body, time.Since(start)
}

// TestRelayDelaysAndCounts: every request waits the delay, reaches the
// upstream unchanged, and is counted by path, kind and module version.
func TestRelayDelaysAndCounts(t *testing.T) {
	up := testproxy.New(t)
	const delay = 60 * time.Millisecond
	r, url := startRelay(t, up.URL, delay)

	want := up.Artifacts("example.com/Caps", "v1.0.0")
	for _, c := range []struct {
		path string
		body []byte
	}{
		{"/example.com/!caps/@v/v1.0.0.info", want.Info},
		{"/example.com/!caps/@v/v1.0.0.mod", want.Mod},
		{"/example.com/!caps/@v/v1.0.0.zip", want.Zip},
		{"/example.com/!caps/@v/v1.0.0.zip", want.Zip},
	} {
		status, body, took := fetch(t, url+c.path)
		if status != 200 || !bytes.Equal(body, c.body) {
			t.Errorf("%s: status %d, body %.40q, want 200 and the upstream's", c.path, status, body)
		}
		if took < delay {
			t.Errorf("%s took %v, less than the relay's delay %v", c.path, took, delay)
		}
	}
	fetch(t, url+"/example.com/lib/@v/list")
	fetch(t, url+"/example.com/lib/@latest")
	fetch(t, url+"/sumdb/"+testproxy.SumDBName+"/supported")
	if status, body, _ := fetch(t, url+"/sumdb/"+testproxy.SumDBName+"/lookup/example.com/!caps@v1.0.0"); status != 200 || !strings.Contains(string(body), "example.com/Caps v1.0.0 h1:") {
		t.Errorf("lookup through the relay: %d %q", status, body)
	}
	fetch(t, url+"/example.com/missing/@v/v1.0.0.mod")

	s := r.Stats()
	if s.Total != 9 || up.TotalCount() != 9 {
		t.Errorf("relay counted %d requests and upstream saw %d, want 9 and 9", s.Total, up.TotalCount())
	}
	for kind, n := range map[string]int{
		benchrelay.KindInfo: 1, benchrelay.KindMod: 2, benchrelay.KindZip: 2, benchrelay.KindList: 1,
		benchrelay.KindLatest: 1, benchrelay.KindSupported: 1, benchrelay.KindLookup: 1,
	} {
		if s.ByKind[kind] != n {
			t.Errorf("kind %s: %d requests, want %d (all: %v)", kind, s.ByKind[kind], n, s.ByKind)
		}
	}
	if got := s.ByVersion["example.com/Caps@v1.0.0"]; got != 5 {
		t.Errorf("example.com/Caps@v1.0.0: %d requests, want 5 (info, mod, 2 zips, lookup): %v", got, s.ByVersion)
	}
	if got := s.ByPath["/example.com/!caps/@v/v1.0.0.zip"]; got != 2 {
		t.Errorf("zip path counted %d times, want 2", got)
	}
	if s.ByStatus[200] != 8 || s.ByStatus[404] != 1 {
		t.Errorf("statuses %v, want 8×200 and 1×404", s.ByStatus)
	}
	if got := strings.Join(s.Versions(), " "); got != "example.com/Caps@v1.0.0 example.com/missing@v1.0.0" {
		t.Errorf("versions %q", got)
	}

	old := r.Reset()
	if old.Total != 9 || r.Stats().Total != 0 || len(r.Stats().ByPath) != 0 {
		t.Errorf("Reset returned %d and left %d counted", old.Total, r.Stats().Total)
	}
}

// TestRelayZeroDelayIsFast: with no delay the relay adds no waiting of its own.
func TestRelayZeroDelayIsFast(t *testing.T) {
	up := testproxy.New(t)
	_, url := startRelay(t, up.URL, 0)
	fetch(t, url+"/example.com/hello/@v/v1.0.0.mod") // opens the connections
	start := time.Now()
	for range 20 {
		if status, _, _ := fetch(t, url+"/example.com/hello/@v/v1.0.0.mod"); status != 200 {
			t.Fatalf("status %d", status)
		}
	}
	if took := time.Since(start); took > time.Second {
		t.Errorf("20 requests at zero delay took %v", took)
	}
}

// TestRelayHangUpDuringDelay: a client that gives up while the relay waits
// costs the upstream nothing.
func TestRelayHangUpDuringDelay(t *testing.T) {
	up := testproxy.New(t)
	r, url := startRelay(t, up.URL, 5*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url+"/example.com/hello/@v/v1.0.0.zip", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("request succeeded before the delay ran out")
	}
	time.Sleep(50 * time.Millisecond)
	if r.Stats().Total != 1 || up.TotalCount() != 0 {
		t.Errorf("relay counted %d, upstream saw %d; want 1 and 0", r.Stats().Total, up.TotalCount())
	}
}

// TestRelayUpstreamDown: an unreachable upstream is a 502 from the relay, counted.
func TestRelayUpstreamDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	r, url := startRelay(t, dead.URL, 0)
	if status, _, _ := fetch(t, url+"/example.com/hello/@v/list"); status != http.StatusBadGateway {
		t.Errorf("status %d, want 502", status)
	}
	if r.Stats().ByStatus[http.StatusBadGateway] != 1 {
		t.Errorf("statuses %v", r.Stats().ByStatus)
	}
}

func TestNewRefusesBadUpstream(t *testing.T) {
	for _, u := range []string{"", "file:///tmp/x", "proxy.golang.org", "http://", "://x"} {
		if _, err := benchrelay.New(u, 0); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct{ path, kind, version string }{
		{"/github.com/!burnt!sushi/toml/@v/v1.6.0.zip", "zip", "github.com/BurntSushi/toml@v1.6.0"},
		{"/golang.org/x/exp/@v/v0.0.0-20240719175910-8a7402abbf56.mod", "mod", "golang.org/x/exp@v0.0.0-20240719175910-8a7402abbf56"},
		{"/gopkg.in/yaml.v3/@v/v3.0.1.info", "info", "gopkg.in/yaml.v3@v3.0.1"},
		{"/example.com/a/@v/v1.0.0-!r!c1.info", "info", "example.com/a@v1.0.0-RC1"},
		{"/example.com/a/@v/list", "list", ""},
		{"/example.com/a/@latest", "latest", ""},
		{"/sumdb/sum.golang.org/lookup/github.com/!burnt!sushi/toml@v1.6.0", "sumdb-lookup", "github.com/BurntSushi/toml@v1.6.0"},
		{"/sumdb/sum.golang.org/tile/8/0/x123/456", "sumdb-tile", ""},
		{"/sumdb/sum.golang.org/tile/8/data/000", "sumdb-tile", ""},
		{"/sumdb/sum.golang.org/latest", "sumdb-latest", ""},
		{"/sumdb/sum.golang.org/supported", "sumdb-supported", ""},
		{"/sumdb/sum.golang.org/lookup/nover", "other", ""},
		{"/example.com/a/@v/.zip", "other", ""},
		{"/example.com/a/@v/v1.0.0.tar", "other", ""},
		{"/", "other", ""},
		{"/example.com/A/@v/v1.0.0.mod", "mod", "example.com/A@v1.0.0"}, // not unescapable: kept as sent
	} {
		kind, version := benchrelay.Classify(c.path)
		if kind != c.kind || version != c.version {
			t.Errorf("Classify(%q) = %q, %q; want %q, %q", c.path, kind, version, c.kind, c.version)
		}
	}
}

// TestRelayWithGoCommand: the real go command, downloading through the
// relay with the checksum database behind it too, is counted one request
// per file it needs.
func TestRelayWithGoCommand(t *testing.T) {
	testutil.RequireCommand(t, "go")
	up := testproxy.New(t)
	r, url := startRelay(t, up.URL, 5*time.Millisecond)
	env := testutil.GoEnv(t, "GOPROXY="+url, "GOSUMDB="+up.GOSUMDB())
	testutil.MustGo(t, t.TempDir(), env, "mod", "download", "example.com/greet@v1.0.0")
	s := r.Stats()
	if s.ByVersion["example.com/greet@v1.0.0"] != 4 {
		t.Errorf("example.com/greet@v1.0.0: %d requests, want 4 (info, mod, zip, lookup): %v", s.ByVersion["example.com/greet@v1.0.0"], s.ByPath)
	}
	for _, kind := range []string{benchrelay.KindInfo, benchrelay.KindMod, benchrelay.KindZip, benchrelay.KindLookup, benchrelay.KindSupported} {
		if s.ByKind[kind] != 1 {
			t.Errorf("%s: %d requests, want 1 (all: %v)", kind, s.ByKind[kind], s.ByPath)
		}
	}
	if s.ByKind[benchrelay.KindTile] == 0 || s.ByKind[benchrelay.KindOther] != 0 {
		t.Errorf("kinds %v: want tiles and nothing unclassified", s.ByKind)
	}
}
