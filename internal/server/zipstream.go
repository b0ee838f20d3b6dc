package server

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

// streamable reports whether a zip request may be answered as the zip
// arrives from upstream: a plain GET (a HEAD, a range or a conditional
// request needs the stored file).
func streamable(r *http.Request) bool {
	h := r.Header
	return r.Method == http.MethodGet && h.Get("Range") == "" && h.Get("If-None-Match") == "" &&
		h.Get("If-Modified-Since") == "" && h.Get("If-Range") == ""
}

// serveZip answers a zip request, following the fetch when the zip is
// fetched now. The zip's end is held back until it is verified (see
// modcache.ZipStream); if it is refused after the start has been sent,
// the response is aborted, so the client sees a broken transfer, never a
// complete zip. Before any byte is sent the refusal is answered as usual.
func (s *Server) serveZip(w http.ResponseWriter, r *http.Request, req goproxy.Request) {
	a, zs, err := s.opts.Cache.OpenZip(r.Context(), req.Module, req.Version)
	if err != nil {
		s.fail(w, r, req, err)
		return
	}
	if a != nil {
		s.serveOpened(w, r, req, a)
		return
	}
	defer zs.Close()
	e := reqlog.From(r.Context())
	e.Source = string(modcache.FromUpstream)
	buf := make([]byte, 64<<10)
	n, err := io.ReadFull(zs, buf)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		s.fail(w, r, req, err)
		return
	}
	h := w.Header()
	h["Cache-Control"] = immutableHeader
	h["Content-Type"] = contentTypeHeader[req.Kind]
	if info, h1, ok := zs.Verified(); ok {
		// All of it is here (a small zip): it goes out as a stored one
		// would, with its length and the tag of the file being committed.
		h["Content-Length"] = []string{strconv.FormatInt(info.Size, 10)}
		h["Etag"] = []string{etag(info.Size, info.ModTime)}
		e.H1 = h1
	}
	w.WriteHeader(http.StatusOK)
	for {
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return // the client went away
			}
		}
		if err != nil {
			break
		}
		n, err = zs.Read(buf)
		if err != nil && !errors.Is(err, io.EOF) {
			if r.Context().Err() != nil {
				return // the client went away
			}
			s.log.Error("zip refused after its start was sent; aborting the response", "module", req.Module, "version", req.Version, "err", err)
			e.Decision, e.Reason = "error", "refused mid-stream: "+err.Error()
			panic(http.ErrAbortHandler)
		}
	}
	_, e.H1, _ = zs.Verified()
}
