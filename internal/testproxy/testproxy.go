// Package testproxy is a hermetic upstream for tests: a GOPROXY serving
// modules built from txtar fixtures (testdata/mod, in the format of
// cmd/go's testdata/mod), plus a checksum database signed with a throwaway
// key that vouches for every module's true hashes. Tests can tamper with
// what the proxy serves, take it down, and count the requests it saw.
package testproxy

import (
	"bytes"
	"context"
	"crypto/rand"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	modzip "golang.org/x/mod/zip"
)

//go:embed testdata/mod/*.txt
var fixtures embed.FS

// SumDBName is the name of the test checksum database.
const SumDBName = "sum.gatehouse.test"

// Server is a running test upstream.
type Server struct {
	URL string // base URL of the GOPROXY (no trailing slash)

	skey, vkey string
	sumdb      http.Handler
	server     *httptest.Server

	mu       sync.Mutex
	mods     map[string]map[string]*Version // path → version → artifacts
	tampered map[string][]byte              // "path@version.kind" → served instead
	status   int                            // if non-zero, every request gets it
	delay    time.Duration
	counts   map[string]int       // URL path → requests
	indexed  map[string]time.Time // "path@version" → when the mirror first had it
}

// Version is one module version's artifacts.
type Version struct {
	Info, Mod, Zip []byte
}

// New starts a test upstream holding every fixture and registers its shutdown.
func New(t testing.TB) *Server {
	t.Helper()
	skey, vkey, err := note.GenerateKey(rand.Reader, SumDBName)
	if err != nil {
		t.Fatal(err)
	}
	return NewWithKey(t, skey, vkey)
}

// NewWithKey is New with a given signer and verifier key, so that a test can
// start a second database under the same key that disagrees with the first
// (a fork, or a rollback).
func NewWithKey(t testing.TB, skey, vkey string) *Server {
	t.Helper()
	s := &Server{mods: map[string]map[string]*Version{}, tampered: map[string][]byte{}, counts: map[string]int{}, indexed: map[string]time.Time{}}
	names, err := fixtures.ReadDir("testdata/mod")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		data, _ := fixtures.ReadFile("testdata/mod/" + n.Name())
		if err := s.addTxtar(data); err != nil {
			t.Fatalf("fixture %s: %v", n.Name(), err)
		}
	}
	s.skey, s.vkey = skey, vkey
	s.sumdb = sumdb.NewServer(sumdb.NewTestServer(skey, s.goSum))
	s.server = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.server.URL
	t.Cleanup(s.server.Close)
	return s
}

// GOSUMDB returns the GOSUMDB (or gatehouse --sumdb) value that trusts this
// server's checksum database: the verifier key, which starts with the name.
func (s *Server) GOSUMDB() string { return s.vkey }

// SignerKey returns the checksum database's private signer key.
func (s *Server) SignerKey() string { return s.skey }

// SumDBURL returns the URL of the checksum database.
func (s *Server) SumDBURL() string { return s.URL + "/sumdb/" + SumDBName }

// Close stops the server now (it also stops at test cleanup).
func (s *Server) Close() { s.server.Close() }

// IndexURL is the module index, in the format of index.golang.org (the
// real one cannot be reached from tests): every version with the time the
// mirror first had it, tm of Add unless SetIndexTime says otherwise.
func (s *Server) IndexURL() string { return s.URL + "/index" }

// SetIndexTime makes the index list path@version as first had at tm, as
// for a commit backdated by its author: its .info keeps the commit time.
func (s *Server) SetIndexTime(modPath, version string, tm time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexed[modPath+"@"+version] = tm
}

// serveIndex answers ?since=&limit= as index.golang.org does: JSON lines,
// oldest first, from since on (inclusive).
func (s *Server) serveIndex(w http.ResponseWriter, r *http.Request) {
	since, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("since"))
	limit := 2000
	if n, err := strconv.Atoi(r.URL.Query().Get("limit")); err == nil && n > 0 && n < limit {
		limit = n
	}
	type entry struct {
		Path, Version string
		Timestamp     time.Time
	}
	var list []entry
	s.mu.Lock()
	for k, tm := range s.indexed {
		if !tm.Before(since) {
			mod, v, _ := strings.Cut(k, "@")
			list = append(list, entry{mod, v, tm.UTC()})
		}
	}
	s.mu.Unlock()
	// The real index lists new versions every second; a heartbeat at the
	// current time stands for them, so the index is always read up to now.
	list = append(list, entry{"example.com/heartbeat", "v0.0.0-" + time.Now().UTC().Format("20060102150405") + "-000000000000", time.Now().UTC()})
	sort.Slice(list, func(i, j int) bool { return list[i].Timestamp.Before(list[j].Timestamp) })
	w.Header().Set("Content-Type", "application/json")
	for i, e := range list {
		if i == limit {
			break
		}
		line, _ := json.Marshal(e)
		w.Write(append(line, '\n'))
	}
}

// Add adds a module version built from files (name → content, relative to
// the module root; "go.mod" is required) published at time tm. The checksum
// database vouches for it like for the fixtures.
func (s *Server) Add(modPath, version string, files map[string]string, tm time.Time) error {
	if _, ok := files["go.mod"]; !ok {
		return fmt.Errorf("testproxy: %s@%s has no go.mod", modPath, version)
	}
	info, _ := json.Marshal(map[string]any{"Version": version, "Time": tm.UTC().Format(time.RFC3339)})
	zipData, err := BuildZip(modPath, version, files)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mods[modPath] == nil {
		s.mods[modPath] = map[string]*Version{}
	}
	s.mods[modPath][version] = &Version{Info: info, Mod: []byte(files["go.mod"]), Zip: zipData}
	// An honest author: committed, then published at once.
	s.indexed[modPath+"@"+version] = tm
	if now := time.Now(); tm.After(now) {
		s.indexed[modPath+"@"+version] = now
	}
	return nil
}

// BuildZip builds a well-formed module zip of files (name → content).
func BuildZip(modPath, version string, files map[string]string) ([]byte, error) {
	var zbuf bytes.Buffer
	var zfiles []modzip.File
	for name, content := range files {
		zfiles = append(zfiles, memFile{name, []byte(content)})
	}
	if err := modzip.Create(&zbuf, module.Version{Path: modPath, Version: version}, zfiles); err != nil {
		return nil, err
	}
	return zbuf.Bytes(), nil
}

// Artifacts returns the true (untampered) artifacts of a module version.
func (s *Server) Artifacts(modPath, version string) *Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mods[modPath][version]
}

// Tamper makes the proxy serve data instead of the true artifact of kind
// ("info", "mod" or "zip"); the checksum database still vouches for the true one.
func (s *Server) Tamper(modPath, version, kind string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tampered[modPath+"@"+version+"."+kind] = data
}

// SetStatus makes every request (protocol and checksum database) answer
// with status; 0 restores normal service.
func (s *Server) SetStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = status
}

// SetDelay delays every response by d.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Count returns how many requests the server saw for a URL path such as
// "/example.com/hello/@v/v1.0.0.zip".
func (s *Server) Count(urlPath string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[urlPath]
}

// TotalCount returns how many requests the server saw in all.
func (s *Server) TotalCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.counts {
		n += c
	}
	return n
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.counts[r.URL.Path]++
	status, delay := s.status, s.delay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if status != 0 {
		http.Error(w, http.StatusText(status), status)
		return
	}
	if rest, ok := strings.CutPrefix(r.URL.Path, "/sumdb/"+SumDBName); ok {
		if rest == "/supported" {
			return
		}
		r2 := r.Clone(r.Context())
		r2.URL.Path = rest
		s.sumdb.ServeHTTP(w, r2)
		return
	}
	if r.URL.Path == "/index" {
		s.serveIndex(w, r)
		return
	}
	s.serveProxy(w, r)
}

func (s *Server) serveProxy(w http.ResponseWriter, r *http.Request) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	if escMod, ok := strings.CutSuffix(p, "/@latest"); ok {
		mod, err := module.UnescapePath(escMod)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		v := s.latest(mod)
		if v == nil {
			http.Error(w, "not found: "+mod+"@latest", http.StatusNotFound)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(v.Info)
		return
	}
	escMod, file, ok := strings.Cut(p, "/@v/")
	mod, err := module.UnescapePath(escMod)
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	if file == "list" {
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		for _, v := range s.versions(mod) {
			fmt.Fprintln(w, v)
		}
		return
	}
	ext := path.Ext(file)
	vers, err := module.UnescapeVersion(strings.TrimSuffix(file, ext))
	if err != nil {
		http.NotFound(w, r)
		return
	}
	kind := strings.TrimPrefix(ext, ".")
	s.mu.Lock()
	v := s.mods[mod][vers]
	data, isTampered := s.tampered[mod+"@"+vers+"."+kind]
	s.mu.Unlock()
	if v == nil {
		http.Error(w, "not found: "+mod+"@"+vers, http.StatusNotFound)
		return
	}
	if !isTampered {
		switch kind {
		case "info":
			data = v.Info
		case "mod":
			data = v.Mod
		case "zip":
			data = v.Zip
		default:
			http.NotFound(w, r)
			return
		}
	}
	w.Write(data)
}

// versions returns the tagged (non-pseudo) versions of mod, sorted.
func (s *Server) versions(mod string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var list []string
	for v := range s.mods[mod] {
		if !module.IsPseudoVersion(v) {
			list = append(list, v)
		}
	}
	sort.Slice(list, func(i, j int) bool { return semver.Compare(list[i], list[j]) < 0 })
	return list
}

// latest picks the highest release, else the highest prerelease, else the
// highest pseudo-version, as proxy.golang.org does.
func (s *Server) latest(mod string) *Version {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best string
	rank := func(v string) int {
		switch {
		case module.IsPseudoVersion(v):
			return 0
		case semver.Prerelease(v) != "":
			return 1
		}
		return 2
	}
	for v := range s.mods[mod] {
		if best == "" || rank(v) > rank(best) || rank(v) == rank(best) && semver.Compare(v, best) > 0 {
			best = v
		}
	}
	if best == "" {
		return nil
	}
	return s.mods[mod][best]
}

// goSum returns the go.sum lines for a module version from the true artifacts.
func (s *Server) goSum(modPath, vers string) ([]byte, error) {
	v := s.Artifacts(modPath, vers)
	if v == nil {
		// A *PathError, so that sumdb.Server answers 404 as sum.golang.org does.
		return nil, &fs.PathError{Op: "lookup", Path: modPath + "@" + vers, Err: fs.ErrNotExist}
	}
	zh, err := HashZip(v.Zip)
	if err != nil {
		return nil, err
	}
	mh, err := HashMod(v.Mod)
	if err != nil {
		return nil, err
	}
	return fmt.Appendf(nil, "%s %s %s\n%s %s/go.mod %s\n", modPath, vers, zh, modPath, vers, mh), nil
}

// HashZip returns the h1: hash of a module zip held in memory.
func HashZip(data []byte) (string, error) {
	zr, err := zipReader(data)
	if err != nil {
		return "", err
	}
	var names []string
	files := map[string]func() (io.ReadCloser, error){}
	for _, f := range zr.File {
		names = append(names, f.Name)
		files[f.Name] = f.Open
	}
	return dirhash.Hash1(names, func(name string) (io.ReadCloser, error) { return files[name]() })
}

// HashMod returns the h1: hash of a go.mod file, as recorded for "v/go.mod".
func HashMod(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// Lookup asks the test checksum database for a module version's lines, as a
// check that a test's expectations agree with the database.
func (s *Server) Lookup(ctx context.Context, modPath, vers string) (string, error) {
	data, err := s.goSum(modPath, vers)
	return string(data), err
}
