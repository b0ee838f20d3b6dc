package sumdb

import (
	"fmt"
	"sync"

	"golang.org/x/mod/sumdb/tlog"
)

// Adds that come while another is being committed are committed together
// (group commit): one write and one sync of each file and one signed tree
// head for all of them. Each Add still returns only once its record is on
// disk and signed, so a private version's first-seen hashes are recorded
// before it is served; a crash before the tree head is written drops the
// whole batch at the next start, as it drops a single unsigned record.

type group struct {
	mu      sync.Mutex
	queue   []*addReq
	leading bool  // an Add is committing batches
	queued  int64 // Adds ever queued (for tests)
	commits int64 // tree heads written by batches (for tests)
}

type addReq struct {
	key, zip, mod string
	text          []byte
	done          chan struct{}
	// results
	gotZip, gotMod string
	err            error
	known          bool // answered from the records already there
}

// Add appends a record for path@version unless one exists. It returns the
// hashes that count: the ones recorded first.
func (l *Log) Add(path, version, zipH1, modH1 string) (string, string, error) {
	text, err := formatRecord(path, version, zipH1, modH1)
	if err != nil {
		return "", "", err
	}
	req := &addReq{key: path + "@" + version, zip: zipH1, mod: modH1, text: text, done: make(chan struct{})}
	g := &l.group
	g.mu.Lock()
	g.queue = append(g.queue, req)
	g.queued++
	lead := !g.leading
	g.leading = true
	g.mu.Unlock()
	if lead {
		// Commit batches until none is waiting; ours is in the first.
		for {
			g.mu.Lock()
			batch := g.queue
			g.queue = nil
			if len(batch) == 0 {
				g.leading = false
				g.mu.Unlock()
				break
			}
			g.mu.Unlock()
			l.commit(batch)
		}
	}
	<-req.done
	return req.gotZip, req.gotMod, req.err
}

// commit appends the new records of batch, syncs, and signs the new tree.
func (l *Log) commit(batch []*addReq) {
	defer func() {
		for _, r := range batch {
			close(r.done)
		}
	}()
	l.mu.Lock()
	defer l.mu.Unlock()
	first := map[string]*addReq{}
	var fresh []*addReq
	var ends []int64
	n := l.n
	end := l.offsets[n]
	hashEnd := tlog.StoredHashCount(n) * tlog.HashSize
	recEnd, hEnd := end, hashEnd
	fail := func(err error) {
		l.records.Truncate(end)
		l.hashes.Truncate(hashEnd)
		// Nothing of the batch was recorded: each Add not answered from
		// the log already fails.
		for _, r := range batch {
			if !r.known {
				r.err = fmt.Errorf("appending to checksum log: %w", err)
			}
		}
	}
	var dups []*addReq
	for _, r := range batch {
		if id, ok := l.index[r.key]; ok {
			old, err := l.readRecord(id)
			if err == nil {
				_, _, r.gotZip, r.gotMod, err = parseRecord(old)
			}
			r.err, r.known = err, true
			continue
		}
		if first[r.key] != nil {
			dups = append(dups, r)
			continue
		}
		first[r.key] = r
		fresh = append(fresh, r)
		// The hashes of the records before it in the batch are written
		// (not yet synced), which is all StoredHashes reads.
		hs, err := tlog.StoredHashes(n, r.text, l.hashReader(n))
		if err != nil {
			fail(err)
			return
		}
		if _, err := l.records.WriteAt(r.text, recEnd); err != nil {
			fail(err)
			return
		}
		buf := make([]byte, 0, len(hs)*tlog.HashSize)
		for _, h := range hs {
			buf = append(buf, h[:]...)
		}
		if _, err := l.hashes.WriteAt(buf, hEnd); err != nil {
			fail(err)
			return
		}
		recEnd += int64(len(r.text))
		hEnd += int64(len(buf))
		ends = append(ends, recEnd)
		n++
	}
	if len(fresh) > 0 {
		if err := l.records.Sync(); err != nil {
			fail(err)
			return
		}
		if err := l.hashes.Sync(); err != nil {
			fail(err)
			return
		}
		th, err := tlog.TreeHash(n, l.hashReader(n))
		if err != nil {
			fail(err)
			return
		}
		if err := l.writeTree(tlog.Tree{N: n, Hash: th}); err != nil {
			fail(err)
			return
		}
		l.group.mu.Lock()
		l.group.commits++
		l.group.mu.Unlock()
		for i, r := range fresh {
			l.index[r.key] = l.n + int64(i)
			r.gotZip, r.gotMod = r.zip, r.mod
		}
		l.offsets = append(l.offsets, ends...)
		l.n = n
	}
	for _, r := range dups {
		f := first[r.key]
		r.gotZip, r.gotMod, r.err = f.gotZip, f.gotMod, f.err
	}
}
