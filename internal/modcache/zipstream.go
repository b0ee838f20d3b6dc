package modcache

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"sync"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// A zip fetched from upstream is written to a staging file that clients
// follow while it arrives ("streaming"), but the end of the zip is held
// back until its hash has been verified: without its central directory
// and end record a zip cannot be opened, so a client never holds a complete
// unverified zip. Once verified, the rest is released and the staging file
// is committed to the store by rename; on a mismatch the followers' reads
// fail (the server then aborts the response) and nothing is stored.

// eocdMax is the most the end of a zip can take: the end-of-central-
// directory record (22 bytes) with the longest comment it allows (65535).
// Holding back at least this much always withholds the end record.
const eocdMax = 22 + 65535

// cdSig begins every central-directory entry. Everything from its first
// occurrence is held back too, so the whole central directory (which may
// be longer than eocdMax) stays withheld. The same bytes inside compressed
// data only make the hold-back larger, never smaller.
var cdSig = []byte("PK\x01\x02")

// zipStream is one fetch's staging file and how much of it may be read.
type zipStream struct {
	mu      sync.Mutex
	f       *os.File
	refs    int   // the fetch and each follower; f is closed at zero
	written int64 // bytes in f
	cdAt    int64 // offset of the first cdSig seen; -1: none yet
	last    []byte
	final   bool   // verified: all of f may be read
	h1      string // set with final
	err     error  // the fetch failed: followers stop with it
	wake    chan struct{}
}

func newZipStream(f *os.File) *zipStream {
	return &zipStream{f: f, refs: 1, cdAt: -1, wake: make(chan struct{})}
}

// changedLocked wakes every follower waiting for more.
func (s *zipStream) changedLocked() {
	close(s.wake)
	s.wake = make(chan struct{})
}

// append records that p was written at the end of the file.
func (s *zipStream) append(p []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cdAt < 0 {
		// A signature may straddle two writes: look at the joint too.
		k := len(cdSig) - 1
		joint := append(append([]byte(nil), s.last...), p[:min(len(p), k)]...)
		if i := bytes.Index(joint, cdSig); i >= 0 {
			s.cdAt = s.written - int64(len(s.last)) + int64(i)
		} else if i := bytes.Index(p, cdSig); i >= 0 {
			s.cdAt = s.written + int64(i)
		}
		if len(p) >= k {
			s.last = append(s.last[:0], p[len(p)-k:]...)
		} else {
			t := append(s.last, p...)
			s.last = append([]byte(nil), t[max(0, len(t)-k):]...)
		}
	}
	s.written += int64(len(p))
	s.changedLocked()
}

// readableLocked is how many bytes from the start followers may read.
func (s *zipStream) readableLocked() int64 {
	if s.final {
		return s.written
	}
	n := s.written - eocdMax
	if s.cdAt >= 0 && s.cdAt < n {
		n = s.cdAt
	}
	return max(n, 0)
}

// verified releases the whole file.
func (s *zipStream) verified(h1 string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.final, s.h1 = true, h1
	s.changedLocked()
}

// fail makes followers stop with err, unless the zip was verified.
func (s *zipStream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.final && s.err == nil {
		s.err = err
		s.changedLocked()
	}
}

func (s *zipStream) hold() {
	s.mu.Lock()
	s.refs++
	s.mu.Unlock()
}

func (s *zipStream) release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refs--; s.refs == 0 {
		s.f.Close()
	}
}

// stagedWriter writes one download attempt into the stream. A transfer
// that broke off is started again from the beginning; followers may
// already have read what the first attempt wrote, so the new attempt must
// bring the same bytes (they are compared, not written again) before it
// adds more.
type stagedWriter struct {
	s   *zipStream
	pos int64
	buf []byte
}

var errZipChanged = errors.New("the upstream served different bytes when the broken transfer was retried")

func (w *stagedWriter) Write(p []byte) (int, error) {
	total := len(p)
	w.s.mu.Lock()
	have := w.s.written
	w.s.mu.Unlock()
	for len(p) > 0 && w.pos < have {
		k := int(min(int64(len(p)), have-w.pos))
		if cap(w.buf) < k {
			w.buf = make([]byte, k)
		}
		if _, err := w.s.f.ReadAt(w.buf[:k], w.pos); err != nil {
			return 0, &StorageError{err}
		}
		if !bytes.Equal(w.buf[:k], p[:k]) {
			return 0, errZipChanged
		}
		w.pos += int64(k)
		p = p[k:]
	}
	if len(p) == 0 {
		return total, nil
	}
	n, err := w.s.f.WriteAt(p, w.pos)
	if n > 0 {
		w.pos += int64(n)
		w.s.append(p[:n])
	}
	if err != nil {
		return total - len(p) + n, &StorageError{err} // a full disk, not the upstream
	}
	return total, nil
}

// ZipStream reads a zip that is being fetched, as far as it may be read.
type ZipStream struct {
	s   *zipStream
	ctx context.Context
	off int64
	rel sync.Once
}

// Read returns the next bytes that may be sent, waiting for them. It
// returns io.EOF once the whole zip, verified, has been read, and the
// fetch's error if the zip was refused.
func (z *ZipStream) Read(p []byte) (int, error) {
	for {
		z.s.mu.Lock()
		avail, final, err, wake := z.s.readableLocked(), z.s.final, z.s.err, z.s.wake
		z.s.mu.Unlock()
		if err != nil {
			return 0, err
		}
		if z.off < avail {
			k := int(min(int64(len(p)), avail-z.off))
			n, rerr := z.s.f.ReadAt(p[:k], z.off)
			z.off += int64(n)
			if n > 0 {
				return n, nil
			}
			return 0, rerr
		}
		if final {
			return 0, io.EOF
		}
		select {
		case <-wake:
		case <-z.ctx.Done():
			return 0, z.ctx.Err()
		}
	}
}

// Verified reports whether the zip has been verified (all of it may be
// read then), its h1 hash, and the size and time its stored copy has.
func (z *ZipStream) Verified() (info storage.Info, h1 string, ok bool) {
	z.s.mu.Lock()
	final, h1, size := z.s.final, z.s.h1, z.s.written
	z.s.mu.Unlock()
	if !final {
		return storage.Info{}, "", false
	}
	// Renaming keeps the time, so this is the stored file's.
	fi, err := z.s.f.Stat()
	if err != nil {
		return storage.Info{Size: size}, h1, true
	}
	return storage.Info{Size: size, ModTime: fi.ModTime()}, h1, true
}

// Close lets go of the staging file.
func (z *ZipStream) Close() error {
	z.rel.Do(z.s.release)
	return nil
}

// zipStreams are the zip fetches in progress, by artifact name, and the
// requests waiting for one to start.
type zipStreams struct {
	mu      sync.Mutex
	live    map[string]*zipStream
	waiting map[string]map[chan *zipStream]bool
}

// publish makes s the stream of name and hands it to those waiting.
func (z *zipStreams) publish(name string, s *zipStream) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.live == nil {
		z.live = map[string]*zipStream{}
	}
	z.live[name] = s
	for ch := range z.waiting[name] {
		s.hold()
		ch <- s // buffered, and sent to once
	}
	delete(z.waiting, name)
}

func (z *zipStreams) unpublish(name string, s *zipStream) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.live[name] == s {
		delete(z.live, name)
	}
}

// watch returns the live stream of name (held), or a channel that will
// get it (held) when one starts.
func (z *zipStreams) watch(name string) (*zipStream, chan *zipStream) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if s := z.live[name]; s != nil {
		s.hold()
		return s, nil
	}
	if z.waiting == nil {
		z.waiting = map[string]map[chan *zipStream]bool{}
	}
	if z.waiting[name] == nil {
		z.waiting[name] = map[chan *zipStream]bool{}
	}
	ch := make(chan *zipStream, 1)
	z.waiting[name][ch] = true
	return nil, ch
}

// unwatch stops waiting on ch, letting go of a stream sent meanwhile.
func (z *zipStreams) unwatch(name string, ch chan *zipStream) {
	z.mu.Lock()
	if w := z.waiting[name]; w != nil {
		delete(w, ch)
		if len(w) == 0 {
			delete(z.waiting, name)
		}
	}
	z.mu.Unlock()
	select {
	case s := <-ch:
		s.release()
	default:
	}
}

// OpenZip is Open for a zip, for a client that can take it as it arrives:
// when the zip is fetched now, it returns a ZipStream that follows the
// fetch (a nil Artifact); otherwise the stored Artifact, as Open does.
func (c *Cache) OpenZip(ctx context.Context, modPath, version string) (*Artifact, *ZipStream, error) {
	name := goproxy.ArtifactName(modPath, version, goproxy.KindZip)
	if obj, err := c.opts.Store.Open(ctx, name); err == nil {
		return &Artifact{Object: obj, Source: FromCache}, nil, nil
	}
	s, ch := c.streams.watch(name)
	if s != nil {
		return nil, &ZipStream{s: s, ctx: ctx}, nil
	}
	type result struct {
		a   *Artifact
		err error
	}
	res := make(chan result, 1)
	go func() {
		a, err := c.Open(ctx, modPath, version, goproxy.KindZip)
		res <- result{a, err}
	}()
	select {
	case r := <-res:
		c.streams.unwatch(name, ch)
		return r.a, nil, r.err
	case s := <-ch:
		c.streams.unwatch(name, ch)
		go func() {
			if r := <-res; r.a != nil {
				r.a.Close()
			}
		}()
		return nil, &ZipStream{s: s, ctx: ctx}, nil
	}
}
