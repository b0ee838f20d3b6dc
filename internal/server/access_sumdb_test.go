package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/sumdb"
)

// The own checksum log's data tiles list every module path in it; under
// access rules they are refused however the path is spelled, through the
// whole handler (ServeMux cleaning, the registry, x/mod's sumdb.Server).
func TestOwnLogDataTilesRefusedInEverySpelling(t *testing.T) {
	const name = "sum.corp.example"
	skey, _, err := sumdb.LoadOrCreateKey(filepath.Join(t.TempDir(), "key"), name)
	if err != nil {
		t.Fatal(err)
	}
	log, _, err := sumdb.OpenLog(t.TempDir(), skey)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { log.Close() })
	const zipH1, modH1 = "h1:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=", "h1:bfz1oH8JvjLSU6iNK2Sl2kAn2XUg/BgDFEKePRuTbPU="
	if _, _, err := log.Add("corp.example.com/secret", "v1.0.0", zipH1, modH1); err != nil {
		t.Fatal(err)
	}
	e := newTestEnv(t) // for its cache; the database here is the own log
	var reg sumdb.Registry
	reg.Add(name, &sumdb.Own{Log: log})
	access, _ := auth.NewAccess([]auth.Rule{{Modules: []string{"corp.example.com/**"}, Groups: []string{"build"}}}, 0)
	who := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := &auth.Identity{Name: "web", Method: "token", Groups: []string{"web"}}
			next.ServeHTTP(w, r.WithContext(auth.WithIdentity(r.Context(), id)))
		})
	}
	s := server.New(server.Options{Cache: e.cache, SumDB: &reg, Gates: []server.Gate{access},
		Middleware: []func(http.Handler) http.Handler{who, access.SumDB},
		Logger:     slog.New(slog.NewTextHandler(io.Discard, nil))})
	srv := httptest.NewServer(s.Handler())
	t.Cleanup(srv.Close)

	// The hash tiles are served: the go command needs them.
	if resp, _ := do(t, "GET", srv.URL+"/sumdb/"+name+"/tile/8/0/000.p/1"); resp.StatusCode != 200 {
		t.Fatalf("hash tile: %d", resp.StatusCode)
	}
	for _, p := range []string{
		"/tile/8/data/000.p/1",
		"/tile/8/dat%61/000.p/1",
		"/tile/8/data%2F000.p/1",
		"/tile/+8/data/000.p/1",
		"/tile/08/data/000.p/1",
		"/tile/8/data/x000.p/1",
		"//tile/8/data/000.p/1",
		"/tile/8/./data/000.p/1",
		"/tile/8/0/../data/000.p/1",
		"/tile/8/data/000.p/1/",
	} {
		for _, method := range []string{"GET", "HEAD"} {
			req, _ := http.NewRequestWithContext(context.Background(), method, srv.URL+"/sumdb/"+name+p, nil)
			resp, err := http.DefaultClient.Do(req) // follows ServeMux's cleaning redirects
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 || strings.Contains(string(body), "corp.example.com/secret") {
				t.Errorf("%s %s: %d %q", method, p, resp.StatusCode, body)
			}
		}
	}
	// A lookup of the hidden module, in any spelling, is refused as absent.
	for _, p := range []string{"/lookup/corp.example.com/secret@v1.0.0", "/lookup/corp.example.com/secret@v1.0.0%23", "/lookup/corp.example.com/secret%40v1.0.0"} {
		resp, body := do(t, "GET", srv.URL+"/sumdb/"+name+p)
		if resp.StatusCode == 200 || strings.Contains(body, "h1:") {
			t.Errorf("lookup %s: %d %q", p, resp.StatusCode, body)
		}
	}
}
