package sumdb_test

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/sumdb"
)

// A lookup, tile or tree head that the database fails once (502, reset
// connection) is asked again and served; a 404 is passed on as it is, at
// once; the log names the database, not the credentials in its URL.
func TestProxyRetries(t *testing.T) {
	var mu sync.Mutex
	hits := map[string]int{}
	db := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits[r.URL.Path]++
		n := hits[r.URL.Path]
		mu.Unlock()
		switch {
		case strings.Contains(r.URL.Path, "nosuch"):
			http.Error(w, "not found", http.StatusNotFound)
		case n == 1 && strings.Contains(r.URL.Path, "/tile/"):
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		case n == 1:
			http.Error(w, "bad gateway", http.StatusBadGateway)
		default:
			io.WriteString(w, "answer for "+r.URL.Path+"\n")
		}
	}))
	defer db.Close()
	store, err := fs.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	p := &sumdb.Proxy{
		Name: "sum.example.test", URL: strings.Replace(db.URL, "http://", "http://tok-4e1f:pw-77c2@", 1), Store: store,
		Logger: slog.New(slog.NewTextHandler(&logs, nil)),
	}
	for path, want := range map[string]int{
		"/lookup/example.com/m@v1.0.0":      200,
		"/latest":                           200,
		"/tile/8/0/001":                     200,
		"/lookup/example.com/nosuch@v1.0.0": 404,
	} {
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want {
			t.Errorf("%s: %d %s, want %d", path, rec.Code, rec.Body, want)
		}
		mu.Lock()
		n := hits[path]
		mu.Unlock()
		if want == 404 && n != 1 {
			t.Errorf("%s: a 404 was asked %d times", path, n)
		}
		if want == 200 && n != 2 {
			t.Errorf("%s: %d requests, want 2 (one failure, one retry)", path, n)
		}
	}
	if !strings.Contains(logs.String(), "sumdb=sum.example.test upstream="+db.URL+" ") || strings.Contains(logs.String(), "tok-4e1f") || strings.Contains(logs.String(), "pw-77c2") {
		t.Errorf("log:\n%s", logs.String())
	}
}
