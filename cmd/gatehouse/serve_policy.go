package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/policy/enforce"
)

// startPolicy loads the policy file and keeps it current: reloaded on
// SIGHUP and, every poll (if not 0), when the file changes, until ctx ends.
func startPolicy(ctx context.Context, file string, poll time.Duration, cache *modcache.Cache, log *slog.Logger) (*enforce.Enforcer, error) {
	enf, err := enforce.New(enforce.Options{File: file, Source: cache, Logger: log})
	if err != nil {
		return nil, err
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		enf.Watch(ctx, hup, poll)
	}()
	return enf, nil
}
