package modcache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/retry"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

// zipTempPrefix names zips staged in TempDir while they are checked (for
// stores that cannot stage in place).
const zipTempPrefix = "zip-"

// warm lets the route's Checker start its lookups now, alongside the
// download, rather than once the hash is known. The fetch waits for them
// before it ends (within its deadline), so they do not run on behind a
// download that failed.
func (c *Cache) warm(ctx context.Context, route Route, modPath, version string) (wait func()) {
	w, ok := route.Checker.(verify.Warmer)
	if !ok {
		return func() {}
	}
	done := w.Warm(modPath, version)
	return func() {
		select {
		case <-done:
		case <-ctx.Done():
		}
	}
}

// fetchZip downloads the zip into a staging file that clients follow as
// it arrives (see zipstream.go), checks it with x/mod's zip.CheckZip,
// verifies its h1 hash, releases the held-back end to the followers and
// commits the file to the store under name. On any failure the followers
// stop with the error and nothing is stored.
//
// It returns release, to be called once the fetch's other work (the list)
// is done: it hands the end of the zip to the followers, so that a client
// that has the whole zip finds everything in place.
func (c *Cache) fetchZip(ctx context.Context, route Route, modPath, version, name string, log *slog.Logger) (_ string, release func(), err error) {
	f, commit, abort, err := c.stage(ctx, name)
	if err != nil {
		return "", nil, &StorageError{err}
	}
	s := newZipStream(f)
	c.streams.publish(name, s)
	committed := false
	defer func() {
		p := recover()
		if p != nil {
			s.fail(fmt.Errorf("internal error fetching %s", name))
		} else if err != nil {
			s.fail(err)
		}
		if !committed {
			c.streams.unpublish(name, s)
			abort()
			s.release()
		}
		if p != nil {
			panic(p)
		}
	}()
	if err := c.downloadZip(ctx, route, modPath, version, s); err != nil {
		return "", nil, err
	}
	// The file is synced while it is checked, so committing it costs
	// little more than the rename.
	synced := make(chan error, 1)
	go func() { synced <- f.Sync() }()
	h1, err := verify.CheckZipFile(modPath, version, f.Name())
	if err == nil {
		err = c.check(ctx, route, modPath, version, h1, log)
	} else {
		err = &InvalidError{Msg: err.Error()}
	}
	if serr := <-synced; err == nil && serr != nil {
		err = &StorageError{serr}
	}
	if err != nil {
		return "", nil, err
	}
	if err := commit(); err != nil {
		return "", nil, &StorageError{err}
	}
	committed = true
	// Verified and stored: the followers may have the end of it. (A
	// request that comes after one finished finds it in the store.)
	return h1, func() {
		s.verified(h1)
		c.streams.unpublish(name, s)
		s.release()
	}, nil
}

// stage returns a file to download name into and how to commit or drop
// it: in the store itself when it can stage (no second copy), else in
// TempDir, copied into the store on commit.
func (c *Cache) stage(ctx context.Context, name string) (*os.File, func() error, func(), error) {
	if st, ok := c.opts.Store.(storage.Stager); ok {
		return st.Stage(ctx, name)
	}
	tmp, err := os.CreateTemp(c.opts.TempDir, zipTempPrefix)
	if err != nil {
		return nil, nil, nil, err
	}
	commit := func() error {
		fi, err := tmp.Stat()
		if err != nil {
			return err
		}
		return c.opts.Store.Put(ctx, name, io.NewSectionReader(tmp, 0, fi.Size()))
	}
	return tmp, commit, func() { os.Remove(tmp.Name()) }, nil
}

// downloadZip streams the zip into s (never into memory), enforcing the
// size limit. A transfer that breaks off is started again from the
// beginning, a few times at most; the bytes already written must come
// again unchanged.
func (c *Cache) downloadZip(ctx context.Context, route Route, modPath, version string, s *zipStream) error {
	var w *stagedWriter
	err := c.zipRetry.Do(ctx, func(ctx context.Context) error {
		rc, err := route.Source.Zip(ctx, modPath, version)
		if err != nil {
			return retry.Final(upstreamErr(err)) // the source retried its request
		}
		defer rc.Close()
		w = &stagedWriter{s: s}
		if _, err := io.Copy(w, io.LimitReader(rc, c.opts.MaxZipSize+1)); err != nil {
			if errors.Is(err, errZipChanged) {
				return retry.Final(&InvalidError{Msg: err.Error()})
			}
			var se *StorageError
			if errors.As(err, &se) {
				return retry.Final(se)
			}
			return &UpstreamError{Err: fmt.Errorf("reading zip: %w", err)}
		}
		return nil
	}, func(attempt int, wait time.Duration, err error) {
		c.log.Warn("module zip transfer broke off; downloading it again", "module", modPath, "version", version, "route", route.Name, "attempt", attempt, "err", err)
	})
	if err != nil {
		if ctx.Err() != nil {
			return &UpstreamError{Err: ctx.Err()}
		}
		return err
	}
	s.mu.Lock()
	written := s.written
	s.mu.Unlock()
	if written > c.opts.MaxZipSize {
		return &InvalidError{Msg: fmt.Sprintf("module zip is larger than the %d-byte limit", c.opts.MaxZipSize)}
	}
	if w.pos != written {
		return &InvalidError{Msg: errZipChanged.Error()}
	}
	return nil
}
