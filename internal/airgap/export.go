package airgap

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	fsstore "github.com/gatehouse-dev/gatehouse/internal/storage/fs"
)

// ExportOptions selects what Export writes.
type ExportOptions struct {
	Data     string // the store directory (serve --data)
	SumDBKey string // verifier key of the checksum database
	// SumDBURL is where tiles missing from the state directory are
	// fetched ("" : none; export then fails if one is missing).
	SumDBURL string
	Client   *http.Client
	Since    time.Time // zero: everything
	NotIn    *Manifest // nil: everything; else only files not in it
	Patterns []string  // GOPRIVATE-style module path patterns; none: all
	Gzip     bool
	Progress *Progress // nil: none
}

// ExportReport says what Export wrote.
type ExportReport struct {
	Modules int
	Files   int
	Bytes   int64    // of artifacts, before compression
	Skipped []string // module@version left out, with the reason
}

// StateDir is where gatehouse keeps what it verified of a checksum
// database (internal/verify): latest, cache/lookup/..., cache/tile/....
func StateDir(data, name string) string {
	return filepath.Join(data, ".gatehouse", "sumdb", name)
}

type storedVersion struct {
	path, version string
	escDir, escV  string // <escaped path>/@v, <escaped version>
	modTime       time.Time
}

// Stored is one module version in a store directory.
type Stored struct {
	Path, Version string
	Stored        time.Time // when its go.mod was stored
	Bytes         int64     // of its .info, .mod and .zip
	Zip           bool
}

// Remove deletes a module version's files from a store directory: the
// .info first (it lists the version offline), the .mod last (it is what
// List finds, so a removal cut short is found and done again).
func Remove(ctx context.Context, data, path, version string) error {
	store, err := fsstore.New(data)
	if err != nil {
		return err
	}
	esc, err1 := module.EscapePath(path)
	ev, err2 := module.EscapeVersion(version)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	for _, ext := range []string{".info", ".zip", ".mod"} {
		if err := store.Delete(ctx, esc+"/@v/"+ev+ext); err != nil {
			return fmt.Errorf("removing %s@%s: %w", path, version, err)
		}
	}
	return nil
}

// List returns the module versions in a store directory, sorted.
func List(data string) ([]Stored, error) {
	vs, err := storedVersions(data)
	if err != nil {
		return nil, err
	}
	out := make([]Stored, 0, len(vs))
	for _, v := range vs {
		s := Stored{Path: v.path, Version: v.version, Stored: v.modTime}
		for _, ext := range []string{".info", ".mod", ".zip"} {
			if st, err := os.Stat(filepath.Join(data, filepath.FromSlash(v.escDir), v.escV+ext)); err == nil {
				s.Bytes += st.Size()
				s.Zip = s.Zip || ext == ".zip"
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// Export writes a bundle to w and returns its manifest.
func Export(ctx context.Context, w io.Writer, opts ExportOptions) (*Manifest, *ExportReport, error) {
	verifier, err := note.NewVerifier(opts.SumDBKey)
	if err != nil {
		return nil, nil, fmt.Errorf("checksum database key: %w", err)
	}
	name := verifier.Name()
	state := StateDir(opts.Data, name)
	latest, err := os.ReadFile(filepath.Join(state, "latest"))
	if err != nil {
		return nil, nil, fmt.Errorf("no verified tree head of %s in this store (nothing verified yet?): %w", name, err)
	}
	tree, err := openTree(latest, verifier)
	if err != nil {
		return nil, nil, fmt.Errorf("the store's tree head of %s: %w", name, err)
	}
	versions, err := storedVersions(opts.Data)
	if err != nil {
		return nil, nil, err
	}
	rep := &ExportReport{}
	tiles := &recordingTiles{got: map[string][]byte{}, read: tileSource(ctx, opts, state, name)}
	thr := tlog.TileHashReader(tree, tiles)
	man := &Manifest{Format: 1, Created: time.Now().UTC(), SumDB: name, Tree: Tree{Size: tree.N, Hash: tree.Hash.String()}}
	old := map[string]bool{}
	if opts.NotIn != nil {
		for _, f := range opts.NotIn.Files {
			old[f.Name] = true
		}
		// Tiles that prove the earlier bundle's tree a prefix of this
		// one, and its records still in this tree, so the importing side
		// can move its trusted tree forward and keep serving them.
		if opts.NotIn.SumDB == name && opts.NotIn.Tree.Size > 0 && opts.NotIn.Tree.Size <= tree.N {
			if _, err := tlog.ProveTree(tree.N, opts.NotIn.Tree.Size, thr); err != nil {
				return nil, nil, fmt.Errorf("proving this tree consistent with the earlier bundle's: %w", err)
			}
			for _, m := range opts.NotIn.Modules {
				if _, err := tlog.ProveRecord(tree.N, m.Record, thr); err != nil {
					return nil, nil, fmt.Errorf("proving %s@%s in this tree: %w", m.Path, m.Version, err)
				}
			}
		}
	}

	var out io.Writer = w
	var gz *gzip.Writer
	if opts.Gzip {
		gz = gzip.NewWriter(w)
		out = gz
	}
	tw := tar.NewWriter(out)
	add := func(entry string, data []byte) error {
		sum := sha256.Sum256(data)
		man.Files = append(man.Files, File{Name: entry, Size: int64(len(data)), SHA256: hex.EncodeToString(sum[:])})
		if err := tw.WriteHeader(&tar.Header{Name: entry, Mode: 0o644, Size: int64(len(data)), ModTime: man.Created.Truncate(time.Second), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	addFile := func(entry, path string) (int64, error) {
		f, err := os.Open(path)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return 0, err
		}
		if err := tw.WriteHeader(&tar.Header{Name: entry, Mode: 0o644, Size: st.Size(), ModTime: st.ModTime().Truncate(time.Second), Typeflag: tar.TypeReg}); err != nil {
			return 0, err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(tw, h), f)
		if err != nil {
			return 0, err
		}
		if n != st.Size() {
			return 0, fmt.Errorf("%s changed while exported", path)
		}
		man.Files = append(man.Files, File{Name: entry, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))})
		return n, nil
	}

	var selected []storedVersion
	for _, v := range versions {
		if len(opts.Patterns) > 0 && !module.MatchPrefixPatterns(strings.Join(opts.Patterns, ","), v.path) {
			continue
		}
		if !opts.Since.IsZero() && !v.modTime.After(opts.Since) {
			continue
		}
		selected = append(selected, v)
	}
	opts.Progress.Start("export", len(selected))
	for _, v := range selected {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		id := v.path + "@" + v.version
		lookup, err := os.ReadFile(filepath.Join(state, "cache", "lookup", v.escDir[:len(v.escDir)-len("/@v")]+"@"+v.escV))
		if err != nil {
			// Not verified against the database (nosumdb, private):
			// the other side could not check it, so it stays here.
			rep.Skipped = append(rep.Skipped, id+": no checksum database record in this store")
			opts.Progress.Step(0)
			continue
		}
		recID, text, _, err := tlog.ParseRecord(lookup)
		if err != nil {
			return nil, nil, fmt.Errorf("%s: kept checksum database record: %w", id, err)
		}
		if recID >= tree.N {
			return nil, nil, fmt.Errorf("%s: record %d is not in the store's tree of size %d", id, recID, tree.N)
		}
		if _, err := tlog.ProveRecord(tree.N, recID, thr); err != nil {
			return nil, nil, fmt.Errorf("%s: proving its record in the tree: %w", id, err)
		}
		m := Module{Path: v.path, Version: v.version, Record: recID}
		var wrote int64
		for _, ext := range []string{".info", ".mod", ".zip"} {
			entry := v.escDir + "/" + v.escV + ext
			if old[filesDir+entry] {
				continue
			}
			n, err := addFile(filesDir+entry, filepath.Join(opts.Data, filepath.FromSlash(entry)))
			if errors.Is(err, fs.ErrNotExist) && ext != ".mod" {
				continue
			}
			if err != nil {
				return nil, nil, fmt.Errorf("%s: %w", id, err)
			}
			wrote += n
			rep.Files++
			if ext == ".zip" {
				m.Zip = true
			}
		}
		if wrote == 0 {
			opts.Progress.Step(0)
			continue // every file already in the earlier bundle
		}
		rec, _ := tlog.FormatRecord(recID, text)
		if err := add(recordsDir+v.escDir[:len(v.escDir)-len("/@v")]+"@"+v.escV, rec); err != nil {
			return nil, nil, err
		}
		man.Modules = append(man.Modules, m)
		rep.Modules++
		rep.Bytes += wrote
		opts.Progress.Step(wrote)
	}
	if err := add(latestName, latest); err != nil {
		return nil, nil, err
	}
	paths := make([]string, 0, len(tiles.got))
	for p := range tiles.got {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		if err := add(tilesDir+p, tiles.got[p]); err != nil {
			return nil, nil, err
		}
	}
	// The manifest comes last: it holds the hash of every entry before it.
	mj, err := json.MarshalIndent(man, "", "\t")
	if err != nil {
		return nil, nil, err
	}
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o644, Size: int64(len(mj)), ModTime: man.Created.Truncate(time.Second), Typeflag: tar.TypeReg}); err != nil {
		return nil, nil, err
	}
	if _, err := tw.Write(mj); err != nil {
		return nil, nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, nil, err
	}
	if gz != nil {
		if err := gz.Close(); err != nil {
			return nil, nil, err
		}
	}
	opts.Progress.Done()
	return man, rep, nil
}

// openTree checks a signed tree head against the database's key.
func openTree(msg []byte, v note.Verifier) (tlog.Tree, error) {
	n, err := note.Open(msg, note.VerifierList(v))
	if err != nil {
		var unk *note.UnverifiedNoteError
		if errors.As(err, &unk) {
			return tlog.Tree{}, fmt.Errorf("tree head is not signed by the trusted key %s: %w", v.Name(), err)
		}
		return tlog.Tree{}, err
	}
	return tlog.ParseTree([]byte(n.Text))
}

// tileSource reads tiles kept by verification, then those served to
// clients (kept in the store), then from the database itself.
func tileSource(ctx context.Context, opts ExportOptions, state, name string) func(tlog.Tile) ([]byte, error) {
	kept := &tilePool{dir: filepath.Join(state, "cache")}
	served := &tilePool{dir: filepath.Join(opts.Data, "sumdb", name)}
	return func(t tlog.Tile) ([]byte, error) {
		for _, p := range []*tilePool{kept, served} {
			if data, ok := p.tile(t); ok && len(data) >= t.W*tlog.HashSize {
				return data[:t.W*tlog.HashSize], nil
			}
		}
		if opts.SumDBURL == "" {
			return nil, fmt.Errorf("tile %s is not in the store and no checksum database URL was given", t.Path())
		}
		client := opts.Client
		if client == nil {
			client = http.DefaultClient
		}
		req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimSuffix(opts.SumDBURL, "/")+"/"+t.Path(), nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("fetching tile %s: %w", t.Path(), err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("fetching tile %s: %s", t.Path(), resp.Status)
		}
		return io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	}
}

// storedVersions lists the module versions in a store directory: every
// <escaped path>/@v/<version>.mod, go.mod-only versions included.
func storedVersions(data string) ([]storedVersion, error) {
	var out []storedVersion
	err := filepath.WalkDir(data, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(data, p)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel == ".gatehouse" || rel == "sumdb" {
				return filepath.SkipDir
			}
			return nil
		}
		dir, file := filepath.ToSlash(filepath.Dir(rel)), d.Name()
		if !strings.HasSuffix(dir, "/@v") || !strings.HasSuffix(file, ".mod") || !d.Type().IsRegular() {
			return nil
		}
		escV := strings.TrimSuffix(file, ".mod")
		mod, err1 := module.UnescapePath(strings.TrimSuffix(dir, "/@v"))
		vers, err2 := module.UnescapeVersion(escV)
		if err1 != nil || err2 != nil || module.Check(mod, vers) != nil {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		out = append(out, storedVersion{path: mod, version: vers, escDir: dir, escV: escV, modTime: info.ModTime()})
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].path != out[j].path {
			return out[i].path < out[j].path
		}
		return out[i].version < out[j].version
	})
	return out, err
}
