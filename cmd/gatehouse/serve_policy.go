package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/modindex"
	"github.com/gatehouse-dev/gatehouse/internal/policy/enforce"
)

// startPolicy loads the policy file and keeps it current: reloaded on
// SIGHUP and, every poll (if not 0), when the file changes, until ctx ends.
//
// min_age's clock: the module index (unless off) for public modules, and
// first sight, kept in stateDir, for the rest (or the commit time, if the
// fallback says so).
func startPolicy(ctx context.Context, cfg *config.Serve, stateDir string, cache *modcache.Cache, client *http.Client, log *slog.Logger) (*enforce.Enforcer, error) {
	opts := enforce.Options{
		File: string(cfg.Policy), Source: cache, Logger: log,
		FirstSeenFile:      filepath.Join(stateDir, "policy", "first-seen.json"),
		Private:            func(p string) bool { return cache.Route(p).Private },
		CommitTimeFallback: cfg.MinAgeFallback == "commit_time",
		IndexContext:       ctx,
	}
	if cfg.ModuleIndex != "off" {
		opts.Index = modindex.New(modindex.Options{URL: string(cfg.ModuleIndex), Client: client, Logger: log})
	}
	poll := time.Duration(cfg.PolicyPoll)
	enf, err := enforce.New(opts)
	if err != nil {
		return nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		enf.Watch(ctx, hup, poll)
		enf.Flush() // during the graceful shutdown: first-seen times written so far stay
	}()
	return enf, nil
}
