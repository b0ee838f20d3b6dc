package sumdb

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type mapCache map[string][]byte

func (m mapCache) Verified(p string) ([]byte, bool) { d, ok := m[p]; return d, ok }
func (m mapCache) Verify(string, string) error      { panic("offline: Verify must not be called") }

// Offline, the proxy answers from the kept proofs alone: a narrower tile
// is the prefix of a wider one kept, and a miss is a 404 that names the
// offline store; the database is never asked.
func TestOfflineProxyNeverForwards(t *testing.T) {
	asked := 0
	db := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { asked++ }))
	defer db.Close()
	wide := bytes.Repeat([]byte{7}, 5*32)
	latest := filepath.Join(t.TempDir(), "latest")
	os.WriteFile(latest, []byte("signed tree\n"), 0o600)
	p := &Proxy{Name: "sum.example", URL: db.URL, Offline: true, LatestFile: latest, Verified: mapCache{
		"tile/8/0/000.p/5":            wide,
		"lookup/example.com/a@v1.0.0": []byte("1\nexample.com/a v1.0.0 h1:x\n\nsigned tree\n"),
	}}
	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/supported", 200, ""},
		{"/latest", 200, "signed tree\n"},
		{"/tile/8/0/000.p/3", 200, string(wide[:3*32])},
		{"/tile/8/0/000.p/5", 200, string(wide)},
		{"/tile/8/0/000.p/6", 404, "not in the offline store"},
		{"/tile/8/0/001", 404, "not in the offline store"},
		{"/lookup/example.com/a@v1.0.0", 200, "1\nexample.com/a v1.0.0 h1:x\n"},
		{"/lookup/example.com/b@v1.0.0", 404, "example.com/b@v1.0.0 is not in the offline store"},
	} {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest("GET", c.path, nil))
		if rec.Code != c.status || !strings.Contains(rec.Body.String(), c.body) {
			t.Errorf("GET %s: %d %q, want %d with %q", c.path, rec.Code, rec.Body.String(), c.status, c.body)
		}
	}
	if asked != 0 {
		t.Errorf("offline proxy asked the database %d times", asked)
	}
}
