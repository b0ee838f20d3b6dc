package inspect

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"io"
	"net/url"
	"path"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
)

// ReadsContext reports whether e's body is a build context that
// BuildContext must check.
func (in *Inspector) ReadsContext(e api.Endpoint) bool { return e.String() == imageBuild }

// BuildContext returns body as a reader that checks the build context (a tar
// archive, maybe compressed) while it streams to dockerd, and fails with a
// *Violation when the Dockerfile would make dockerd fetch a URL or reach a
// registry the scope does not name.
//
// Why streaming is enough: the classic builder reads the whole context to
// the end of the archive before it reads the Dockerfile. The reader hands a
// byte on only once the scanner has processed everything those bytes decode
// to (it asks for more input only then), so dockerd cannot see the end of
// the archive before every Dockerfile entry has been checked; a refused
// context ends with an error instead, which aborts the upload, and dockerd
// sees a truncated body and builds nothing. Memory stays at one chunk plus
// the Dockerfile.
//
// Contexts are refused that gatehouse could read differently from dockerd:
// a Dockerfile that is a link, or any entry beneath a link (extracting it
// writes through the link, perhaps onto the Dockerfile); compression other
// than gzip and bzip2; anything that is not a tar archive.
func (in *Inspector) BuildContext(body io.ReadCloser, q url.Values, scope Scope) io.ReadCloser {
	name := q.Get("dockerfile")
	if name == "" {
		name = "Dockerfile"
	}
	s := &contextScan{src: body, scope: scope, max: in.maxBody, links: map[string]bool{},
		args: q.Get("buildargs"), candidates: map[string]bool{cleanEntry(name): true}}
	if cleanEntry(name) == "Dockerfile" {
		s.candidates["dockerfile"] = true // dockerd's fallback
	}
	s.feed = &feedReader{s: s}
	return s
}

// ContextViolation returns the refusal of a reader BuildContext returned, or
// nil.
func ContextViolation(r io.Reader) *Violation {
	if s, ok := r.(*contextScan); ok {
		return s.violation
	}
	return nil
}

type contextScan struct {
	src        io.ReadCloser
	scope      Scope
	max        int64
	args       string // buildargs query parameter
	candidates map[string]bool
	links      map[string]bool // names of symlink and hard link entries

	feed      *feedReader
	tr        *tar.Reader
	cur       *tar.Header
	df        *bytes.Buffer // the Dockerfile entry being read
	held      []byte        // given to the scanner, not yet processed
	out       bytes.Buffer  // processed, for dockerd
	chunk     []byte
	finished  bool
	srcErr    error
	violation *Violation
}

// feedReader is what the decompressor and tar reader read from: a call to
// it means everything given before has been processed, so that is released.
type feedReader struct{ s *contextScan }

func (f *feedReader) Read(p []byte) (int, error) {
	s := f.s
	s.out.Write(s.held)
	s.held = s.held[:0]
	if s.srcErr != nil {
		return 0, s.srcErr
	}
	if len(p) > 32<<10 {
		p = p[:32<<10]
	}
	n, err := s.src.Read(p)
	s.held = append(s.held, p[:n]...)
	if err != nil {
		s.srcErr = err
		if n > 0 {
			err = nil
		}
	}
	return n, err
}

func (s *contextScan) Read(p []byte) (int, error) {
	for s.out.Len() == 0 && !s.finished {
		s.step()
	}
	if s.out.Len() > 0 {
		return s.out.Read(p)
	}
	if s.violation != nil {
		return 0, s.violation
	}
	return s.src.Read(p)
}

func (s *contextScan) Close() error { return s.src.Close() }

func (s *contextScan) refuse(v *Violation) {
	s.violation, s.finished = v, true
	s.held = nil
	s.out.Reset()
}

func (s *contextScan) step() {
	if s.tr == nil {
		if v := s.open(); v != nil {
			s.refuse(v)
		}
		return
	}
	if s.cur == nil {
		h, err := s.tr.Next()
		if err == io.EOF {
			// The end of the archive: all entries are checked.
			s.out.Write(s.held)
			s.held, s.finished = nil, true
			return
		}
		if err != nil {
			s.refuse(deny("build-context", "the build context is not a tar archive gatehouse can read: %v", err))
			return
		}
		if v := s.header(h); v != nil {
			s.refuse(v)
			return
		}
		s.cur = h
		return
	}
	if s.chunk == nil {
		s.chunk = make([]byte, 32<<10)
	}
	n, err := s.tr.Read(s.chunk)
	if s.df != nil {
		s.df.Write(s.chunk[:n])
		if int64(s.df.Len()) > s.max {
			s.refuse(deny("build-context", "the Dockerfile %q is larger than %d bytes", s.cur.Name, s.max))
			return
		}
	}
	switch {
	case err == io.EOF:
		if s.df != nil {
			if v := checkDockerfile(s.df.Bytes(), s.args, s.scope); v != nil {
				s.refuse(v)
				return
			}
		}
		s.cur, s.df = nil, nil
	case err != nil:
		s.refuse(deny("build-context", "the build context is not a tar archive gatehouse can read: %v", err))
	}
}

// open detects compression as dockerd does, by the first bytes.
func (s *contextScan) open() *Violation {
	br := bufio.NewReaderSize(s.feed, 4096)
	magic, err := br.Peek(10)
	if err != nil && err != io.EOF {
		return deny("build-context", "cannot read the build context: %v", err)
	}
	var r io.Reader = br
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b, 0x08}):
		gz, err := gzip.NewReader(br)
		if err != nil {
			return deny("build-context", "the build context is not valid gzip: %v", err)
		}
		r = gz
	case bytes.HasPrefix(magic, []byte("BZh")):
		r = bzip2.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}),
		bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}),
		len(magic) >= 4 && magic[0]&0xf0 == 0x50 && bytes.Equal(magic[1:4], []byte{0x2a, 0x4d, 0x18}):
		return deny("build-context", "build contexts compressed with xz or zstd are not inspected; send a plain or gzip-compressed tar")
	}
	s.tr = tar.NewReader(r)
	return nil
}

// cleanEntry is where dockerd extracts a tar entry or looks up the
// Dockerfile, relative to the context's root.
func cleanEntry(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

func (s *contextScan) header(h *tar.Header) *Violation {
	raw := path.Clean(h.Name)
	if raw == ".." || strings.HasPrefix(raw, "../") {
		return deny("build-context", "build context entry %q lies outside the context", h.Name)
	}
	name := cleanEntry(h.Name)
	for dir := path.Dir(name); dir != "." && dir != "/"; dir = path.Dir(dir) {
		if s.links[dir] {
			return deny("build-context", "build context entry %q lies beneath the link %q; extracting it would write through the link", h.Name, dir)
		}
	}
	link := h.Typeflag == tar.TypeSymlink || h.Typeflag == tar.TypeLink
	if link {
		s.links[name] = true
		for c := range s.candidates {
			if c == name || strings.HasPrefix(c, name+"/") {
				return deny("build-context", "the Dockerfile path %q is a link in the build context; send the file itself", c)
			}
		}
	}
	if s.candidates[name] {
		switch h.Typeflag {
		case tar.TypeReg:
			s.df = &bytes.Buffer{}
		case tar.TypeDir: // dockerd cannot read it as a Dockerfile
		default:
			return deny("build-context", "the Dockerfile %q is not a regular file in the build context", name)
		}
	}
	return nil
}
