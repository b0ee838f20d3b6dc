package modcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/retry"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

// fetch gets one artifact from the module's route, verifies it and stores
// it under name. It returns the verified h1 hash for .mod and .zip.
func (c *Cache) fetch(ctx context.Context, modPath, version string, kind goproxy.Kind, name string) (_ string, err error) {
	route := c.opts.Route(modPath)
	done := c.observeFetch(route.Name)
	defer done(&err)
	log := c.log.With("module", modPath, "version", version, "kind", string(kind), "route", route.Name)
	var h1 string
	var put func() error
	switch kind {
	case goproxy.KindInfo:
		data, err := route.Source.Info(ctx, modPath, version)
		if err != nil {
			return "", upstreamErr(err)
		}
		if _, err := parseInfo(data, version); err != nil {
			return "", err
		}
		put = func() error { return c.opts.Store.Put(ctx, name, bytes.NewReader(data)) }

	case goproxy.KindMod:
		data, err := route.Source.GoMod(ctx, modPath, version)
		if err != nil {
			return "", upstreamErr(err)
		}
		if h1, err = verify.HashMod(data); err != nil {
			return "", err
		}
		if err := c.check(ctx, route, modPath, version+"/go.mod", h1, log); err != nil {
			return "", err
		}
		put = func() error { return c.opts.Store.Put(ctx, name, bytes.NewReader(data)) }

	case goproxy.KindZip:
		tmp, hash, err := c.downloadZip(ctx, route, modPath, version)
		if err != nil {
			return "", err
		}
		defer os.Remove(tmp.Name())
		defer tmp.Close()
		h1 = hash
		if err := c.check(ctx, route, modPath, version, h1, log); err != nil {
			return "", err
		}
		put = func() error {
			if _, err := tmp.Seek(0, io.SeekStart); err != nil {
				return err
			}
			return c.opts.Store.Put(ctx, name, tmp)
		}

	default:
		return "", fmt.Errorf("modcache: cannot fetch kind %q", kind)
	}
	if err := put(); err != nil {
		return "", &StorageError{err}
	}
	if err := c.updateList(ctx, modPath); err != nil {
		log.Warn("updating stored version list", "err", err)
	}
	log.Info("stored from upstream", "h1", h1)
	return h1, nil
}

// zipTempPrefix names zips staged in TempDir while they are checked.
const zipTempPrefix = "zip-"

// downloadZip streams the zip to a temp file (never into memory), enforcing
// the size limit, and checks it with x/mod's zip.CheckZip. It returns the
// open file and its h1 hash. A transfer that breaks off is started again
// from the beginning (the file emptied first), a few times at most.
func (c *Cache) downloadZip(ctx context.Context, route Route, modPath, version string) (*os.File, string, error) {
	tmp, err := os.CreateTemp(c.opts.TempDir, zipTempPrefix)
	if err != nil {
		return nil, "", &StorageError{err}
	}
	fail := func(err error) (*os.File, string, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, "", err
	}
	var n int64
	err = c.zipRetry.Do(ctx, func(ctx context.Context) error {
		if _, err := tmp.Seek(0, io.SeekStart); err != nil {
			return &StorageError{err}
		}
		if err := tmp.Truncate(0); err != nil {
			return &StorageError{err}
		}
		rc, err := route.Source.Zip(ctx, modPath, version)
		if err != nil {
			return retry.Final(upstreamErr(err)) // the source retried its request
		}
		defer rc.Close()
		n, err = io.Copy(tmp, io.LimitReader(rc, c.opts.MaxZipSize+1))
		if err != nil {
			return &UpstreamError{Err: fmt.Errorf("reading zip: %w", err)}
		}
		return nil
	}, func(attempt int, wait time.Duration, err error) {
		c.log.Warn("module zip transfer broke off; downloading it again", "module", modPath, "version", version, "route", route.Name, "attempt", attempt, "err", err)
	})
	if err != nil {
		if ctx.Err() != nil {
			return fail(&UpstreamError{Err: ctx.Err()})
		}
		return fail(err)
	}
	if n > c.opts.MaxZipSize {
		return fail(&InvalidError{Msg: fmt.Sprintf("module zip is larger than the %d-byte limit", c.opts.MaxZipSize)})
	}
	h1, err := verify.CheckZipFile(modPath, version, tmp.Name())
	if err != nil {
		return fail(&InvalidError{Msg: err.Error()})
	}
	return tmp, h1, nil
}

// check asks the route's Checker to vouch for h1.
func (c *Cache) check(ctx context.Context, route Route, modPath, version, h1 string, log interface {
	Warn(string, ...any)
	Error(string, ...any)
}) error {
	if route.Checker == nil {
		log.Warn("stored without checksum verification", "h1", h1)
		return nil
	}
	err := route.Checker.Check(ctx, modPath, version, h1)
	if err != nil {
		log.Error("verification failed; nothing stored", "err", err)
		var me *verify.MismatchError
		var se *verify.SecurityError
		if errors.As(err, &me) || errors.As(err, &se) {
			c.obs.VerificationFailed()
		}
	}
	return err
}
