package sumdb

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/gatehouse-dev/gatehouse/internal/atomicfile"
)

// Log is gatehouse's own checksum database: an append-only transparency
// log (x/mod's tlog) of "path version h1:…" records, one per module
// version, with a tree head signed by gatehouse's key. Clients verify it
// exactly like sum.golang.org.
//
// Three files in its directory hold it: "records" (the record texts, in
// order), "hashes" (tlog's stored hashes, 32 bytes each, in index order;
// tiles are read from it) and "tree" (the signed tree head). Records and
// hashes are appended and synced before a new head is written, so a crash
// leaves at most unsigned records at the end, which Open drops.
type Log struct {
	name     string
	dir      string
	signer   note.Signer
	verifier note.Verifier

	mu      sync.RWMutex
	records *os.File
	hashes  *os.File
	n       int64            // records in the signed tree
	offsets []int64          // offsets[i] is where record i starts; offsets[n] is the end
	index   map[string]int64 // "path@version" → record id
	signed  []byte           // the signed tree head note

	group group // Adds waiting to be committed together
}

// TamperedError means the files on disk no longer match the signed tree:
// someone edited, removed or reordered records or hashes.
type TamperedError struct {
	Dir    string
	Detail string
}

func (e *TamperedError) Error() string {
	return "SECURITY ERROR: checksum log in " + e.Dir + " does not match its signed tree head: " + e.Detail +
		"; refusing to serve it (restore it from a backup; see docs/private-modules.md)"
}

// OpenLog opens (or creates) the log in dir, signed with skey, and checks
// every record and stored hash against the signed tree head. It returns
// how many unsigned records left by a crash were dropped.
func OpenLog(dir, skey string) (*Log, int, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, 0, fmt.Errorf("checksum log key: %v", err)
	}
	vkey, err := VerifierKey(skey)
	if err != nil {
		return nil, 0, err
	}
	verifier, err := note.NewVerifier(vkey)
	if err != nil {
		return nil, 0, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, err
	}
	l := &Log{name: signer.Name(), dir: dir, signer: signer, verifier: verifier, index: map[string]int64{}}
	if l.records, err = os.OpenFile(filepath.Join(dir, "records"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		return nil, 0, err
	}
	if l.hashes, err = os.OpenFile(filepath.Join(dir, "hashes"), os.O_RDWR|os.O_CREATE, 0o600); err != nil {
		l.records.Close()
		return nil, 0, err
	}
	dropped, err := l.load()
	if err != nil {
		l.Close()
		return nil, 0, err
	}
	return l, dropped, nil
}

// Name returns the database name clients put in GOSUMDB.
func (l *Log) Name() string { return l.name }

// Close closes the log's files.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	err1 := l.records.Close()
	err2 := l.hashes.Close()
	return errors.Join(err1, err2)
}

func (l *Log) treeFile() string { return filepath.Join(l.dir, "tree") }

// load verifies the files against the signed tree and builds the index.
func (l *Log) load() (dropped int, err error) {
	tampered := func(format string, args ...any) (int, error) {
		return 0, &TamperedError{Dir: l.dir, Detail: fmt.Sprintf(format, args...)}
	}
	signed, err := os.ReadFile(l.treeFile())
	if errors.Is(err, os.ErrNotExist) {
		if st, _ := l.records.Stat(); st != nil && st.Size() > 0 {
			return tampered("the signed tree head is missing but records exist")
		}
		// A new log starts with a signed empty tree, so that a missing
		// head later is always noticed. Its hash is tlog's hash of the
		// empty tree (RFC 6962), not the zero hash.
		l.offsets = []int64{0}
		return 0, l.writeTree(emptyTree())
	}
	if err != nil {
		return 0, err
	}
	n, err := note.Open(signed, note.VerifierList(l.verifier))
	if err != nil {
		return tampered("the tree head's signature does not verify with this key (%v)", err)
	}
	tree, err := tlog.ParseTree([]byte(n.Text))
	if err != nil {
		return tampered("the tree head is malformed")
	}
	migrate := false
	if tree.N == 0 && tree.Hash == (tlog.Hash{}) {
		// Written by gatehouse before the empty tree had its proper
		// hash; the signature above shows it is our own. Re-signed below,
		// once the files are known to match it.
		tree, migrate = emptyTree(), true
	}

	// Recompute every stored hash from the records and compare with the
	// hashes file and the signed tree hash.
	var computed []tlog.Hash
	reader := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x >= int64(len(computed)) {
				return nil, fmt.Errorf("hash %d not computed yet", x)
			}
			out[i] = computed[x]
		}
		return out, nil
	})
	br := bufio.NewReader(io.NewSectionReader(l.records, 0, 1<<62))
	var off int64
	offsets := []int64{0}
	for id := int64(0); id < tree.N; id++ {
		text, err := readRecordText(br)
		if err != nil {
			return tampered("record %d is missing or malformed (the tree has %d)", id, tree.N)
		}
		p, v, _, _, err := parseRecord(text)
		if err != nil {
			return tampered("record %d is malformed: %v", id, err)
		}
		key := p + "@" + v
		if _, dup := l.index[key]; dup {
			return tampered("record %d repeats %s", id, key)
		}
		hs, err := tlog.StoredHashes(id, text, reader)
		if err != nil {
			return 0, err
		}
		computed = append(computed, hs...)
		l.index[key] = id
		off += int64(len(text))
		offsets = append(offsets, off)
	}
	th, err := tlog.TreeHash(tree.N, reader)
	if err != nil {
		return 0, err
	}
	if th != tree.Hash {
		// Name the first record whose leaf hash differs from the stored one.
		for id := int64(0); id < tree.N; id++ {
			i := tlog.StoredHashIndex(0, id)
			if stored, err := l.readHash(i); err != nil || stored != computed[i] {
				return tampered("record %d was altered", id)
			}
		}
		return tampered("records were altered")
	}
	for i, want := range computed {
		got, err := l.readHash(int64(i))
		if err != nil || got != want {
			return tampered("stored hash %d (tile data) was altered", i)
		}
	}

	// Anything after the signed tree was never signed: a crash between
	// appending and signing. Drop it; the next fetch adds it again.
	rest, _ := io.Copy(io.Discard, br)
	hashCount := tlog.StoredHashCount(tree.N)
	hst, err := l.hashes.Stat()
	if err != nil {
		return 0, err
	}
	if rest > 0 || hst.Size() > hashCount*tlog.HashSize {
		// Add signs after each record, so a crash leaves at most one whole
		// record unsigned. More is a tree head put back from earlier (an
		// older one, or the empty head of before the migration): dropping
		// them would forget the hashes pinned for those versions.
		tail := mustRead(l.records, off, rest)
		if n := wholeRecords(tail, 2); n > 1 {
			return tampered("%d or more records follow the signed tree head (of %d records), where a crash leaves at most one: the tree head is older than the records", n, tree.N)
		}
		dropped = strings.Count(string(tail), "\n") / 2
		if err := l.records.Truncate(off); err != nil {
			return 0, err
		}
		if err := l.hashes.Truncate(hashCount * tlog.HashSize); err != nil {
			return 0, err
		}
	}
	if migrate {
		if err := l.writeTree(tree); err != nil {
			return 0, fmt.Errorf("rewriting the empty tree head of %s: %w", l.dir, err)
		}
		signed = l.signed
	}
	l.n, l.offsets, l.signed = tree.N, offsets, signed
	return dropped, nil
}

// wholeRecords counts the well-formed records at the start of data, up to
// max.
func wholeRecords(data []byte, max int) int {
	br := bufio.NewReader(bytes.NewReader(data))
	n := 0
	for n < max {
		text, err := readRecordText(br)
		if err != nil {
			break
		}
		if _, _, _, _, err := parseRecord(text); err != nil {
			break
		}
		n++
	}
	return n
}

func mustRead(f *os.File, off, n int64) []byte {
	buf := make([]byte, min(n, 1<<20))
	k, _ := f.ReadAt(buf, off)
	return buf[:k]
}

// readRecordText reads one record: two lines.
func readRecordText(br *bufio.Reader) ([]byte, error) {
	a, err := br.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	b, err := br.ReadBytes('\n')
	if err != nil {
		return nil, err
	}
	return append(a, b...), nil
}

// formatRecord returns the record text for a module version, in the form
// sum.golang.org uses.
func formatRecord(path, version, zipH1, modH1 string) ([]byte, error) {
	if err := module.CheckPath(path); err != nil || strings.HasPrefix(path, "-") {
		return nil, fmt.Errorf("invalid module path %q", path)
	}
	if !semver.IsValid(version) || module.CanonicalVersion(version) != version {
		return nil, fmt.Errorf("invalid version %q", version)
	}
	for _, h := range []string{zipH1, modH1} {
		if !strings.HasPrefix(h, "h1:") || strings.ContainsAny(h, " \t\n") {
			return nil, fmt.Errorf("invalid hash %q", h)
		}
	}
	return fmt.Appendf(nil, "%s %s %s\n%s %s/go.mod %s\n", path, version, zipH1, path, version, modH1), nil
}

// parseRecord is formatRecord in reverse.
func parseRecord(text []byte) (path, version, zipH1, modH1 string, err error) {
	lines := strings.Split(strings.TrimSuffix(string(text), "\n"), "\n")
	if len(lines) != 2 {
		return "", "", "", "", errors.New("want two lines")
	}
	a, b := strings.Fields(lines[0]), strings.Fields(lines[1])
	if len(a) != 3 || len(b) != 3 || a[0] != b[0] || b[1] != a[1]+"/go.mod" {
		return "", "", "", "", errors.New("lines do not belong together")
	}
	path, version, zipH1, modH1 = a[0], a[1], a[2], b[2]
	if want, err := formatRecord(path, version, zipH1, modH1); err != nil || !bytes.Equal(want, text) {
		return "", "", "", "", fmt.Errorf("not in canonical form")
	}
	return path, version, zipH1, modH1, nil
}

// readHash reads stored hash i from the hashes file.
func (l *Log) readHash(i int64) (tlog.Hash, error) {
	var h tlog.Hash
	_, err := l.hashes.ReadAt(h[:], i*tlog.HashSize)
	return h, err
}

// hashReader reads stored hashes of the current tree. Hashes beyond it are
// reported as not existing (a 404 for a tile from the future).
func (l *Log) hashReader(n int64) tlog.HashReader {
	limit := tlog.StoredHashCount(n)
	return tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			if x < 0 || x >= limit {
				return nil, os.ErrNotExist
			}
			h, err := l.readHash(x)
			if err != nil {
				return nil, err
			}
			out[i] = h
		}
		return out, nil
	})
}

// Lookup returns the hashes recorded for path@version.
func (l *Log) Lookup(path, version string) (zipH1, modH1 string, ok bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	id, ok := l.index[path+"@"+version]
	if !ok {
		return "", "", false
	}
	text, err := l.readRecord(id)
	if err != nil {
		return "", "", false
	}
	_, _, zipH1, modH1, err = parseRecord(text)
	return zipH1, modH1, err == nil
}

// Size returns the number of records in the signed tree.
func (l *Log) Size() int64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.n
}

func (l *Log) readRecord(id int64) ([]byte, error) {
	if id < 0 || id >= l.n {
		return nil, os.ErrNotExist
	}
	buf := make([]byte, l.offsets[id+1]-l.offsets[id])
	if _, err := l.records.ReadAt(buf, l.offsets[id]); err != nil {
		return nil, err
	}
	return buf, nil
}

// emptyTree is the tree of a log with no records.
func emptyTree() tlog.Tree {
	h, _ := tlog.TreeHash(0, nil) // needs no hashes
	return tlog.Tree{N: 0, Hash: h}
}

// writeTree signs tree and replaces the tree file atomically.
func (l *Log) writeTree(tree tlog.Tree) error {
	signed, err := note.Sign(&note.Note{Text: string(tlog.FormatTree(tree))}, l.signer)
	if err != nil {
		return err
	}
	if err := atomicfile.Write(l.treeFile(), signed, 0o600); err != nil {
		return err
	}
	l.signed = signed
	return nil
}

// Server operations for x/mod's sumdb.Server.

func (l *Log) Signed(ctx context.Context) ([]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.signed, nil
}

func (l *Log) ReadRecords(ctx context.Context, id, n int64) ([][]byte, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	if id < 0 || n < 0 || id+n > l.n {
		return nil, os.ErrNotExist
	}
	out := make([][]byte, 0, n)
	for i := id; i < id+n; i++ {
		text, err := l.readRecord(i)
		if err != nil {
			return nil, err
		}
		out = append(out, text)
	}
	return out, nil
}

func (l *Log) lookupID(m module.Version) (int64, error) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	id, ok := l.index[m.Path+"@"+m.Version]
	if !ok {
		return 0, os.ErrNotExist
	}
	return id, nil
}

func (l *Log) ReadTileData(ctx context.Context, t tlog.Tile) ([]byte, error) {
	l.mu.RLock()
	n := l.n
	l.mu.RUnlock()
	return tlog.ReadTileData(t, l.hashReader(n))
}

// serverOps adapts Log to sumdb.ServerOps (whose Lookup takes a
// module.Version, unlike Log.Lookup).
type serverOps struct{ *Log }

func (o serverOps) Lookup(ctx context.Context, m module.Version) (int64, error) {
	return o.lookupID(m)
}
