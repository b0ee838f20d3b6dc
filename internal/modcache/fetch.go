package modcache

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
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
		defer c.warm(ctx, route, modPath, version)()
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
		defer c.warm(ctx, route, modPath, version)()
		var release func()
		if h1, release, err = c.fetchZip(ctx, route, modPath, version, name, log); err != nil {
			return "", err
		}
		defer release()
		put = func() error { return nil } // committed by fetchZip

	default:
		return "", fmt.Errorf("modcache: cannot fetch kind %q", kind)
	}
	if err := put(); err != nil {
		return "", &StorageError{err}
	}
	if err := c.listChanged(ctx, modPath); err != nil {
		log.Warn("updating stored version list", "err", err)
	}
	log.Info("stored from upstream", "h1", h1)
	return h1, nil
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
