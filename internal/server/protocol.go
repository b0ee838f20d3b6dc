package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

// A Gate decides whether a protocol request may proceed (authorization,
// policy). Gates run after the request is parsed and before the cache is
// asked, so a refused request never causes a fetch.
type Gate interface {
	// Admit returns nil to let the request go on, or an error to refuse
	// it. An error with an HTTPStatus() int method sets the status (403 by
	// default); its message is the first line the go command shows.
	Admit(ctx context.Context, req goproxy.Request) error
	// FilterVersions returns the versions of modPath the caller may see;
	// it is applied to @v/list and to the choice of @latest.
	FilterVersions(ctx context.Context, modPath string, versions []string) ([]string, error)
}

// Cache-Control for immutable artifacts and for answers that change.
const (
	immutable = "max-age=31536000, immutable"
	shortLive = "max-age=60"
)

func (s *Server) serveProtocol(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	e := reqlog.From(ctx)
	req, err := goproxy.Parse(r.URL.EscapedPath())
	if err != nil {
		var pe *goproxy.ParseError
		status := http.StatusBadRequest
		if errors.As(err, &pe) && pe.NotFound {
			status = http.StatusNotFound
		}
		// Audited with the path as asked: a probe is what an auditor looks for.
		e.Kind, e.Decision, e.Reason = "invalid", "error", err.Error()
		writeError(w, status, err.Error())
		return
	}
	e.Module, e.Version, e.Kind = req.Module, req.Version, string(req.Kind)
	for _, g := range s.opts.Gates {
		if err := g.Admit(ctx, req); err != nil {
			s.refuse(w, r, err)
			return
		}
	}
	if e.Decision == "" {
		e.Decision = "allow"
	}
	switch req.Kind {
	case goproxy.KindList:
		s.serveList(w, r, req)
	case goproxy.KindLatest:
		s.serveLatest(w, r, req)
	default:
		s.serveArtifact(w, r, req)
	}
}

func (s *Server) serveArtifact(w http.ResponseWriter, r *http.Request, req goproxy.Request) {
	if req.Kind == goproxy.KindZip && streamable(r) {
		s.serveZip(w, r, req)
		return
	}
	a, err := s.opts.Cache.Open(r.Context(), req.Module, req.Version, req.Kind)
	if err != nil {
		s.fail(w, r, req, err)
		return
	}
	s.serveOpened(w, r, req, a)
}

// serveOpened serves a stored artifact.
func (s *Server) serveOpened(w http.ResponseWriter, r *http.Request, req goproxy.Request, a *modcache.Artifact) {
	defer a.Close()
	e := reqlog.From(r.Context())
	e.Source, e.H1 = string(a.Source), a.H1
	info := a.Info()
	// The URL names the artifact; size and time tell stored copies apart.
	// Headers are set by their canonical keys, skipping Header.Set's
	// canonicalisation on this hot path.
	h := w.Header()
	h["Etag"] = []string{etag(info.Size, info.ModTime)}
	h["Cache-Control"] = immutableHeader
	h["Content-Type"] = contentTypeHeader[req.Kind]
	if f, ok := a.Object.(file); ok {
		http.ServeContent(w, r, "", info.ModTime, &sizedFile{f: f, size: info.Size})
		return
	}
	http.ServeContent(w, r, "", info.ModTime, a)
}

// etag names a stored copy by its size and time.
func etag(size int64, mtime time.Time) string {
	b := make([]byte, 0, 32)
	b = append(b, '"')
	b = strconv.AppendInt(b, size, 36)
	b = append(b, '-')
	b = strconv.AppendInt(b, mtime.UnixNano(), 36)
	b = append(b, '"')
	return string(b)
}

// file is a stored object that is an open file, which the connection can
// hand to sendfile(2) (the Artifact wrapper hides SyscallConn, the method
// net's sendfile path looks for).
type file interface {
	io.ReadSeeker
	syscall.Conn
}

// sizedFile serves a stored file to http.ServeContent, which seeks to the
// end and back to learn its size: two system calls per hit for a size the
// store knows already. Seeks only note where the next read starts; the
// file's own offset follows before a Read or a sendfile.
type sizedFile struct {
	f       file
	size    int64
	off     int64 // where the next read starts
	fileOff int64 // the file's own offset
	sent    bool  // a sendfile may have moved the file's offset since
}

func (s *sizedFile) Seek(offset int64, whence int) (int64, error) {
	if err := s.resync(); err != nil {
		return 0, err
	}
	switch whence {
	case io.SeekCurrent:
		offset += s.off
	case io.SeekEnd:
		offset += s.size
	}
	if offset < 0 {
		return 0, errors.New("seek before the start of the file")
	}
	s.off = offset
	return offset, nil
}

// resync learns the file's offset after a sendfile moved it: reading goes
// on from there.
func (s *sizedFile) resync() error {
	if !s.sent {
		return nil
	}
	cur, err := s.f.Seek(0, io.SeekCurrent)
	if err != nil {
		return err
	}
	s.off, s.fileOff, s.sent = cur, cur, false
	return nil
}

// sync moves the file's offset to where the next read starts.
func (s *sizedFile) sync() error {
	if err := s.resync(); err != nil || s.fileOff == s.off {
		return err
	}
	if _, err := s.f.Seek(s.off, io.SeekStart); err != nil {
		return err
	}
	s.fileOff = s.off
	return nil
}

func (s *sizedFile) Read(p []byte) (int, error) {
	if err := s.sync(); err != nil {
		return 0, err
	}
	n, err := s.f.Read(p)
	s.off += int64(n)
	s.fileOff = s.off
	return n, err
}

// SyscallConn hands the file, at the right offset, to sendfile, which
// reads from the file's offset and moves it.
func (s *sizedFile) SyscallConn() (syscall.RawConn, error) {
	if err := s.sync(); err != nil {
		return nil, err
	}
	s.sent = true
	return s.f.SyscallConn()
}

var (
	immutableHeader   = []string{immutable}
	contentTypeHeader = map[goproxy.Kind][]string{
		goproxy.KindInfo: {contentType(goproxy.KindInfo)},
		goproxy.KindMod:  {contentType(goproxy.KindMod)},
		goproxy.KindZip:  {contentType(goproxy.KindZip)},
	}
)

func contentType(k goproxy.Kind) string {
	switch k {
	case goproxy.KindInfo, goproxy.KindLatest:
		return "application/json"
	case goproxy.KindZip:
		return "application/zip"
	}
	return "text/plain; charset=UTF-8"
}

func (s *Server) serveList(w http.ResponseWriter, r *http.Request, req goproxy.Request) {
	versions, src, err := s.visibleVersions(r.Context(), req.Module)
	if err != nil {
		s.fail(w, r, req, err)
		return
	}
	reqlog.From(r.Context()).Source = string(src)
	w.Header().Set("Content-Type", contentType(goproxy.KindList))
	w.Header().Set("Cache-Control", shortLive)
	var b strings.Builder
	for _, v := range versions {
		b.WriteString(v + "\n")
	}
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	if r.Method != http.MethodHead {
		w.Write([]byte(b.String()))
	}
}

func (s *Server) visibleVersions(ctx context.Context, modPath string) ([]string, modcache.Source, error) {
	versions, src, err := s.opts.Cache.List(ctx, modPath)
	if err != nil {
		return nil, "", err
	}
	for _, g := range s.opts.Gates {
		if versions, err = g.FilterVersions(ctx, modPath, versions); err != nil {
			return nil, "", err
		}
	}
	return versions, src, nil
}

// serveLatest answers @latest. With gates, the upstream's choice stands
// only if the gates let it through; otherwise the newest visible version
// of the list is served instead, so a refused version is never chosen.
func (s *Server) serveLatest(w http.ResponseWriter, r *http.Request, req goproxy.Request) {
	ctx := r.Context()
	e := reqlog.From(ctx)
	data, src, err := s.opts.Cache.Latest(ctx, req.Module)
	if err == nil && len(s.opts.Gates) > 0 {
		data, src, err = s.gatedLatest(ctx, req.Module, data, src)
	}
	if err != nil {
		s.fail(w, r, req, err)
		return
	}
	e.Source = string(src)
	w.Header().Set("Content-Type", contentType(goproxy.KindLatest))
	w.Header().Set("Cache-Control", shortLive)
	w.Header().Set("Content-Length", strconv.Itoa(len(data)))
	if r.Method != http.MethodHead {
		w.Write(data)
	}
}

func (s *Server) gatedLatest(ctx context.Context, modPath string, data []byte, src modcache.Source) ([]byte, modcache.Source, error) {
	var info struct{ Version string }
	if err := json.Unmarshal(data, &info); err != nil {
		return nil, "", err
	}
	allowed := []string{info.Version}
	for _, g := range s.opts.Gates {
		var err error
		if allowed, err = g.FilterVersions(ctx, modPath, allowed); err != nil {
			return nil, "", err
		}
	}
	if len(allowed) == 1 {
		return data, src, nil
	}
	versions, src, err := s.visibleVersions(ctx, modPath)
	if err != nil {
		return nil, "", err
	}
	if len(versions) == 0 {
		return nil, "", fmt.Errorf("%w: no version of %s is allowed", upstream.ErrNotFound, modPath)
	}
	best := modcache.PickLatest(versions)
	i, err := s.opts.Cache.ReadInfo(ctx, modPath, best)
	if err != nil {
		return nil, "", err
	}
	out, _ := json.Marshal(i)
	return out, src, nil
}

// refuse answers a request a gate turned down.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, err error) {
	e := reqlog.From(r.Context())
	status := http.StatusForbidden
	var hs interface{ HTTPStatus() int }
	if errors.As(err, &hs) {
		status = hs.HTTPStatus()
	}
	if e.Decision == "" || e.Decision == "allow" {
		e.Decision = "deny"
	}
	if e.Reason == "" {
		e.Reason = firstLine(err.Error())
	}
	writeError(w, status, err.Error())
}

// fail maps an error from the cache to a status and a message for the go
// command. Details that could leak internals go to the log only.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, req goproxy.Request, err error) {
	e := reqlog.From(r.Context())
	if e.Decision == "allow" {
		e.Decision = "error"
	}
	private := s.opts.Cache.Route(req.Module).Private
	var (
		me *verify.MismatchError
		se *verify.SecurityError
		ve *verify.UnverifiedError
		ie *modcache.InvalidError
		ue *modcache.UpstreamError
		te *modcache.StorageError
		st *upstream.StatusError
		// A source that refuses on principle (a private module's host is
		// not on the direct-fetch list) says so with its own status.
		rf interface {
			error
			HTTPStatus() int
		}
	)
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		return // the client went away
	case errors.As(err, &me):
		e.Reason = "checksum mismatch"
		s.log.Error("SECURITY: refused tampered download", "module", req.Module, "version", req.Version, "got", me.Got, "want", me.Want, "authority", me.Authority)
		writeError(w, http.StatusBadGateway, me.Error())
	case errors.As(err, &se):
		e.Reason = "checksum database inconsistent"
		s.log.Error("SECURITY: checksum database inconsistent", "detail", se.Msg)
		writeError(w, http.StatusBadGateway, se.Error())
	case errors.As(err, &ve):
		e.Reason = "checksum database unavailable"
		s.log.Warn("cannot verify download", "module", req.Module, "version", req.Version, "err", ve)
		writeError(w, http.StatusBadGateway, fmt.Sprintf("%s: cannot verify it against checksum database %s, so it is not served; try again later", req, ve.Authority))
	case errors.As(err, &rf):
		e.Decision, e.Reason = "deny", firstLine(rf.Error())
		s.log.Warn("refused", "module", req.Module, "version", req.Version, "err", rf)
		if rf.HTTPStatus() == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "5") // a backlog of fetches, gone in seconds
		}
		writeError(w, rf.HTTPStatus(), req.String()+": "+rf.Error())
	case errors.Is(err, upstream.ErrNotFound):
		e.Decision, e.Reason = "allow", "not found"
		msg := "not found: " + req.String()
		if errors.As(err, &st) && st.Body != "" && !private {
			msg += "\n" + st.Body
		}
		writeError(w, http.StatusNotFound, msg)
	case errors.As(err, &ie):
		e.Reason = "invalid upstream artifact"
		s.log.Warn("upstream served an invalid artifact", "module", req.Module, "version", req.Version, "err", ie)
		writeError(w, http.StatusBadGateway, fmt.Sprintf("%s: %s", req, ie))
	case errors.As(err, &ue) && ue.Timeout():
		e.Reason = "upstream timeout"
		s.log.Warn("upstream timed out", "module", req.Module, "version", req.Version, "err", ue)
		writeError(w, http.StatusGatewayTimeout, req.String()+": the upstream did not answer in time; try again")
	case errors.As(err, &ue):
		e.Reason = "upstream failed"
		s.log.Warn("upstream failed", "module", req.Module, "version", req.Version, "err", ue)
		msg := req.String() + ": the upstream failed"
		if errors.As(err, &st) && !private {
			msg += fmt.Sprintf(" (%d %s)", st.Status, http.StatusText(st.Status))
		}
		writeError(w, http.StatusBadGateway, msg)
	case errors.As(err, &te):
		e.Reason = "storage error"
		s.log.Error("storage error", "module", req.Module, "version", req.Version, "err", te)
		writeError(w, http.StatusInternalServerError, req.String()+": storage error on the proxy; the request id is "+e.ID)
	default:
		e.Reason = "internal error"
		s.log.Error("request failed", "module", req.Module, "version", req.Version, "err", err)
		writeError(w, http.StatusInternalServerError, req.String()+": internal error on the proxy; the request id is "+e.ID)
	}
}

// writeError writes a text/plain error the go command will show: it prints
// at most 8 lines and 648 bytes of it, and only if it has no control
// characters, so the message is trimmed and cleaned to fit.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Del("ETag")
	w.Header().Del("Content-Length")
	w.WriteHeader(status)
	w.Write([]byte(ErrorBody(msg)))
}

// ErrorBody cleans msg into what the go command can show: printable UTF-8,
// at most 8 lines and 648 bytes, ending in a newline.
func ErrorBody(msg string) string {
	msg = strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r == 0x7f || r == 0xfffd {
			return -1
		}
		return r
	}, strings.ToValidUTF8(msg, ""))
	lines := strings.Split(strings.TrimRight(msg, "\n"), "\n")
	if len(lines) > 8 {
		lines = lines[:8]
	}
	out := strings.Join(lines, "\n")
	if len(out) > 647 {
		out = out[:647]
		out = strings.ToValidUTF8(out, "")
	}
	return out + "\n"
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
