package airgap

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-dev/gatehouse/internal/atomicfile"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
)

// Bounds on the proofs of a bundle (records, tiles, tree head), which are
// kept in memory while checked: a record or tile is a few kB.
const (
	maxSmall      = 1 << 20
	maxSmallTotal = 512 << 20
)

// ImportOptions configures Import.
type ImportOptions struct {
	Data     string // the store directory (serve --data)
	SumDBKey string // verifier key the tree head must be signed with
	// MaxEntry bounds one bundle entry (a zip); 0: 512 MiB.
	MaxEntry int64
	Progress *Progress
}

// ImportReport says what Import stored.
type ImportReport struct {
	Modules  int
	Files    int
	Bytes    int64
	TreeSize int64 // the tree the store trusts now
}

// BadBundleError names the first entry of a bundle that failed a check.
type BadBundleError struct {
	Entry string
	Err   error
}

func (e *BadBundleError) Error() string {
	return "bundle refused, nothing imported: " + e.Entry + ": " + e.Err.Error()
}

func (e *BadBundleError) Unwrap() error { return e.Err }

// Import checks the bundle in r and, only when every check passes, puts
// its files in the store and its proofs in the store's checksum-database
// state, so that serve --offline can answer lookups and tiles.
func Import(ctx context.Context, r io.Reader, opts ImportOptions) (*ImportReport, error) {
	verifier, err := note.NewVerifier(opts.SumDBKey)
	if err != nil {
		return nil, fmt.Errorf("checksum database key: %w", err)
	}
	maxEntry := opts.MaxEntry
	if maxEntry == 0 {
		maxEntry = 512 << 20
	}
	tmpRoot := filepath.Join(opts.Data, ".gatehouse", "tmp")
	if err := os.MkdirAll(tmpRoot, 0o700); err != nil {
		return nil, err
	}
	stage, err := os.MkdirTemp(tmpRoot, "import-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(stage)

	// 1. Every entry staged and hashed; the manifest is the last one.
	br := bufio.NewReader(r)
	var in io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, &BadBundleError{"gzip", err}
		}
		in = gz
	}
	tr := tar.NewReader(in)
	type staged struct {
		size int64
		sum  string
	}
	entries := map[string]staged{}
	var order []string
	var man *Manifest
	small := map[string][]byte{} // sumdb/... entries, kept in memory
	var smallBytes int64
	stagedAt := map[string]string{} // files/... entry → its staged copy
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, &BadBundleError{"tar", err}
		}
		if man != nil {
			return nil, &BadBundleError{h.Name, errors.New("entry after the manifest")}
		}
		if h.Typeflag != tar.TypeReg {
			return nil, &BadBundleError{h.Name, errors.New("not a regular file")}
		}
		if _, dup := entries[h.Name]; dup {
			return nil, &BadBundleError{h.Name, errors.New("entry twice in the bundle")}
		}
		if h.Size < 0 || h.Size > maxEntry {
			return nil, &BadBundleError{h.Name, fmt.Errorf("size %d is over the limit %d", h.Size, maxEntry)}
		}
		if h.Name == manifestName {
			if man, err = decodeManifest(tr); err != nil {
				return nil, &BadBundleError{h.Name, err}
			}
			continue
		}
		if err := checkEntryName(h.Name); err != nil {
			return nil, &BadBundleError{h.Name, err}
		}
		sum := sha256.New()
		var n int64
		if strings.HasPrefix(h.Name, filesDir) {
			stagedAt[h.Name] = filepath.Join(stage, strconv.Itoa(len(stagedAt)))
			f, err := os.Create(stagedAt[h.Name])
			if err != nil {
				return nil, err
			}
			n, err = io.Copy(io.MultiWriter(f, sum), tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return nil, &BadBundleError{h.Name, err}
			}
		} else {
			if h.Size > maxSmall {
				return nil, &BadBundleError{h.Name, fmt.Errorf("size %d is over the limit %d of a proof", h.Size, maxSmall)}
			}
			if smallBytes += h.Size; smallBytes > maxSmallTotal {
				return nil, &BadBundleError{h.Name, fmt.Errorf("the bundle's proofs are over %d bytes in all", maxSmallTotal)}
			}
			data, err := io.ReadAll(tr)
			if err != nil {
				return nil, &BadBundleError{h.Name, err}
			}
			sum.Write(data)
			n = int64(len(data))
			small[h.Name] = data
		}
		entries[h.Name] = staged{n, hex.EncodeToString(sum.Sum(nil))}
		order = append(order, h.Name)
	}
	if man == nil {
		return nil, &BadBundleError{manifestName, errors.New("missing (the bundle is cut short?)")}
	}
	stagedPath := func(name string) string { return stagedAt[name] }

	// 2. The manifest's hashes: every entry listed, every listed entry there.
	listed := map[string]File{}
	for _, f := range man.Files {
		listed[f.Name] = f
	}
	for _, name := range order {
		f, ok := listed[name]
		if !ok {
			return nil, &BadBundleError{name, errors.New("not listed in the manifest")}
		}
		if got := entries[name]; got.size != f.Size || got.sum != f.SHA256 {
			return nil, &BadBundleError{name, fmt.Errorf("sha256 %s does not match the manifest's %s", got.sum, f.SHA256)}
		}
	}
	for _, f := range man.Files {
		if _, ok := entries[f.Name]; !ok {
			return nil, &BadBundleError{f.Name, errors.New("listed in the manifest but not in the bundle")}
		}
	}

	// 3. The tree head's signature, against the key given.
	latest, ok := small[latestName]
	if !ok {
		return nil, &BadBundleError{latestName, errors.New("missing")}
	}
	if man.SumDB != verifier.Name() {
		return nil, &BadBundleError{latestName, fmt.Errorf("bundle is for checksum database %s, not %s", man.SumDB, verifier.Name())}
	}
	tree, err := openTree(latest, verifier)
	if err != nil {
		return nil, &BadBundleError{latestName, err}
	}
	if tree.N != man.Tree.Size || tree.Hash.String() != man.Tree.Hash {
		return nil, &BadBundleError{manifestName, errors.New("tree in the manifest is not the signed tree")}
	}
	state := StateDir(opts.Data, verifier.Name())
	pool := &tilePool{tiles: map[string][]byte{}, dir: filepath.Join(state, "cache")}
	for name, data := range small {
		if p, ok := strings.CutPrefix(name, tilesDir); ok && strings.HasPrefix(p, "tile/") {
			pool.tiles[p] = data
		}
	}
	// Tiles are kept in the state and served by serve --offline: each
	// must be a tile of the signed tree, every hash in it proven.
	for p := range pool.tiles {
		if err := checkTile(tree, p, pool.tiles); err != nil {
			return nil, &BadBundleError{tilesDir + p, err}
		}
	}

	// 4. Each module: its record proven in the signed tree, its files'
	// hashes in the record. No file may come without a module.
	owned := map[string]bool{}
	proven := map[string]bool{} // record entries of the manifest's modules
	opts.Progress.Start("verify", len(man.Modules))
	for _, m := range man.Modules {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		escPath, err1 := module.EscapePath(m.Path)
		escV, err2 := module.EscapeVersion(m.Version)
		if err1 != nil || err2 != nil || module.Check(m.Path, m.Version) != nil {
			return nil, &BadBundleError{manifestName, fmt.Errorf("invalid module %s@%s", m.Path, m.Version)}
		}
		recName := recordsDir + escPath + "@" + escV
		rec, ok := small[recName]
		if !ok {
			return nil, &BadBundleError{recName, errors.New("missing")}
		}
		id, text, rest, err := tlog.ParseRecord(rec)
		if err != nil || len(rest) != 0 || id != m.Record {
			return nil, &BadBundleError{recName, errors.New("malformed record")}
		}
		if id < 0 || id >= tree.N {
			return nil, &BadBundleError{recName, fmt.Errorf("record %d is not in the signed tree of size %d", id, tree.N)}
		}
		proof, err := tlog.ProveRecord(tree.N, id, pool)
		if err != nil {
			return nil, &BadBundleError{recName, fmt.Errorf("no inclusion proof in the bundle: %w", err)}
		}
		if err := tlog.CheckRecord(proof, tree.N, tree.Hash, id, tlog.RecordHash(text)); err != nil {
			return nil, &BadBundleError{recName, fmt.Errorf("record is not in the signed tree: %w", err)}
		}
		// A proven record of another module would be kept as this one's
		// lookup answer.
		if !recordOf(string(text), m) {
			return nil, &BadBundleError{recName, fmt.Errorf("record %d is not the record of %s@%s", id, m.Path, m.Version)}
		}
		proven[recName] = true
		var size int64
		for _, ext := range []string{".mod", ".zip", ".info"} {
			name := filesDir + escPath + "/@v/" + escV + ext
			st, ok := entries[name]
			if !ok {
				continue // in an earlier bundle (--not-in)
			}
			owned[name] = true
			size += st.size
			if err := checkFile(stagedPath(name), ext, m, string(text)); err != nil {
				return nil, &BadBundleError{name, err}
			}
		}
		opts.Progress.Step(size)
	}
	for _, name := range order {
		if strings.HasPrefix(name, filesDir) && !owned[name] {
			return nil, &BadBundleError{name, errors.New("belongs to no module of the manifest, so nothing proves it")}
		}
		// Records become lookup answers of serve --offline: only proven ones.
		if strings.HasPrefix(name, recordsDir) && !proven[name] {
			return nil, &BadBundleError{name, errors.New("record of no module of the manifest, so nothing proves it")}
		}
	}

	// 5. The signed tree agrees with the one this store already trusts.
	trusted, err := os.ReadFile(filepath.Join(state, "latest"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	newer := true
	if len(trusted) > 0 {
		old, err := openTree(trusted, verifier)
		if err != nil {
			return nil, fmt.Errorf("the store's own tree head of %s: %w", verifier.Name(), err)
		}
		if err := consistent(tree, old, pool); err != nil {
			return nil, &BadBundleError{latestName, err}
		}
		newer = tree.N > old.N
	}

	// 6. Everything checked: commit.
	store, err := fs.New(opts.Data)
	if err != nil {
		return nil, err
	}
	rep := &ImportReport{Modules: len(man.Modules)}
	for _, name := range order {
		p, ok := strings.CutPrefix(name, filesDir)
		if !ok {
			continue
		}
		f, err := os.Open(stagedPath(name))
		if err != nil {
			return nil, err
		}
		err = store.Put(ctx, p, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("storing %s: %w", p, err)
		}
		rep.Files++
		rep.Bytes += entries[name].size
	}
	for name, data := range small {
		switch {
		case strings.HasPrefix(name, recordsDir):
			// A lookup answer, as the go command reads it: the record and
			// the tree head it is proven in.
			dst := filepath.Join(state, "cache", "lookup", filepath.FromSlash(strings.TrimPrefix(name, recordsDir)))
			if err := writeState(dst, append(append([]byte{}, data...), latest...)); err != nil {
				return nil, err
			}
		case strings.HasPrefix(name, tilesDir+"tile/"):
			dst := filepath.Join(state, "cache", filepath.FromSlash(strings.TrimPrefix(name, tilesDir)))
			if err := writeState(dst, data); err != nil {
				return nil, err
			}
		}
	}
	if newer {
		if err := writeState(filepath.Join(state, "latest"), latest); err != nil {
			return nil, err
		}
		rep.TreeSize = tree.N
	} else {
		old, _ := openTree(trusted, verifier)
		rep.TreeSize = old.N
	}
	opts.Progress.Done()
	return rep, nil
}

func writeState(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return atomicfile.Write(path, data, 0o600)
}

// consistent checks that tree and old are the same log: the smaller a
// prefix of the larger, by a consistency proof from the bundle's tiles
// and those the store keeps.
func consistent(tree, old tlog.Tree, pool tlog.HashReader) error {
	big, small := tree, old
	if old.N > tree.N {
		big, small = old, tree
	}
	if big.N == small.N {
		if big.Hash != small.Hash {
			return fmt.Errorf("signed tree of size %d is inconsistent with the tree this store trusts (same size, other hash): a forked checksum database", tree.N)
		}
		return nil
	}
	proof, err := tlog.ProveTree(big.N, small.N, pool)
	if err != nil {
		return fmt.Errorf("cannot prove the signed tree (size %d) consistent with the tree this store trusts (size %d); export with --not-in the manifest of the last bundle imported here: %w", tree.N, old.N, err)
	}
	if err := tlog.CheckTree(proof, big.N, big.Hash, small.N, small.Hash); err != nil {
		return fmt.Errorf("signed tree (size %d) is inconsistent with the tree this store trusts (size %d): %w", tree.N, old.N, err)
	}
	return nil
}

// checkEntryName admits only the names export writes.
func checkEntryName(name string) error {
	switch {
	case name == latestName:
		return nil
	case strings.HasPrefix(name, recordsDir):
		rest := strings.TrimPrefix(name, recordsDir)
		p, v, ok := strings.Cut(rest, "@")
		if !ok || storage.CheckName(p) != nil || strings.Contains(v, "/") {
			return errors.New("invalid record name")
		}
		return nil
	case strings.HasPrefix(name, tilesDir+"tile/"):
		if _, ok := validTilePath(strings.TrimPrefix(name, tilesDir)); !ok {
			return errors.New("invalid tile name")
		}
		return nil
	case strings.HasPrefix(name, filesDir):
		p := strings.TrimPrefix(name, filesDir)
		dir, file := filepath.ToSlash(filepath.Dir(p)), filepath.Base(p)
		if storage.CheckName(p) != nil || !strings.HasSuffix(dir, "/@v") || strings.HasPrefix(p, ".gatehouse/") || strings.HasPrefix(p, "sumdb/") {
			return errors.New("invalid file name")
		}
		switch filepath.Ext(file) {
		case ".info", ".mod", ".zip":
			return nil
		}
		return errors.New("invalid file name")
	}
	return errors.New("not a bundle entry")
}

// checkFile checks a staged artifact against the module's record text.
func checkFile(path, ext string, m Module, text string) error {
	want := func(suffix string) string {
		prefix := m.Path + " " + m.Version + suffix + " "
		for _, line := range strings.Split(text, "\n") {
			if h, ok := strings.CutPrefix(line, prefix); ok {
				return h
			}
		}
		return ""
	}
	switch ext {
	case ".zip":
		got, err := dirhash.HashZip(path, dirhash.Hash1)
		if err != nil {
			return fmt.Errorf("not a module zip: %w", err)
		}
		if w := want(""); got != w {
			return fmt.Errorf("SECURITY ERROR: checksum mismatch for %s@%s: bundle has %s, checksum database has %q", m.Path, m.Version, got, w)
		}
	case ".mod":
		got, err := dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) { return os.Open(path) })
		if err != nil {
			return err
		}
		if w := want("/go.mod"); got != w {
			return fmt.Errorf("SECURITY ERROR: go.mod checksum mismatch for %s@%s: bundle has %s, checksum database has %q", m.Path, m.Version, got, w)
		}
	case ".info":
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var info struct{ Version string }
		if err := json.Unmarshal(data, &info); err != nil || info.Version != m.Version {
			return errors.New("not the .info of " + m.Path + "@" + m.Version)
		}
	}
	return nil
}

// recordOf reports whether a record's text holds m's go.mod hash line, as
// every checksum-database record of m does.
func recordOf(text string, m Module) bool {
	prefix := m.Path + " " + m.Version + "/go.mod "
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, prefix) {
			return true
		}
	}
	return false
}

// checkTile checks that the tile at path p, from tiles, is a tile of tree
// with every hash proven: tlog.TileHashReader verifies whole tiles against
// the tree's hash, and one of exactly this width must be the one it keeps.
func checkTile(tree tlog.Tree, p string, tiles map[string][]byte) error {
	t, ok := validTilePath(p)
	if !ok || len(tiles[p]) != t.W*tlog.HashSize {
		return errors.New("not a tile of the signed tree")
	}
	r := &recordingTiles{got: map[string][]byte{}, read: func(u tlog.Tile) ([]byte, error) {
		if data, ok := tiles[u.Path()]; ok {
			return data, nil
		}
		return nil, fmt.Errorf("tile %s is missing", u.Path())
	}}
	last := tlog.StoredHashIndex(t.L*t.H, t.N<<uint(t.H)+int64(t.W)-1)
	if _, err := tlog.TileHashReader(tree, r).ReadHashes([]int64{last}); err != nil {
		return fmt.Errorf("not a tile of the signed tree of size %d: %w", tree.N, err)
	}
	if _, ok := r.got[p]; !ok {
		return fmt.Errorf("not a tile of the signed tree of size %d (its width is not the tree's)", tree.N)
	}
	return nil
}
