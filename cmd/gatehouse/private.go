package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/spelling"
	"github.com/gatehouse-dev/gatehouse/internal/sumdb"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/upstream/direct"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

// ownKeyFile is where the own checksum log's signer key lives.
func ownKeyFile(cfg *config.Serve) string {
	if cfg.OwnSumDBKey != "" {
		return string(cfg.OwnSumDBKey)
	}
	return filepath.Join(string(cfg.Data), ".gatehouse", "own-sumdb", string(cfg.OwnSumDB)+".key")
}

// privateSetup is gatehouse's own checksum log and, if private patterns
// are configured, the direct source for them.
type privateSetup struct {
	log       *sumdb.Log
	patterns  string
	route     modcache.Route // for private modules
	recorded  *verify.Recorded
	closeFunc func()
}

// isPrivate reports whether modPath, or another spelling of its
// repository's path, matches the private patterns.
func (p *privateSetup) isPrivate(modPath string) bool {
	return spelling.MatchPrefixPatterns(p.patterns, modPath)
}

// routeFor returns a Route function: private modules go to their own VCS,
// everything else to public.
func (p *privateSetup) routeFor(public modcache.Route) func(string) modcache.Route {
	return func(modPath string) modcache.Route {
		if p.isPrivate(modPath) {
			return p.route
		}
		return public
	}
}

// ownSumDB is the handler of /sumdb/<own name>/: lookups of versions the
// log lacks fill it, from the private source or the public database.
func (p *privateSetup) ownSumDB(cache *modcache.Cache, log *slog.Logger) *sumdb.Own {
	return &sumdb.Own{Log: p.log, Logger: log, Fill: func(ctx context.Context, path, version string) error {
		// Only versions this proxy serves enter the log: the go.mod is
		// fetched, verified (against the public database, or first-seen
		// for private modules) and stored, which records the version.
		// A lookup alone never adds a record the proxy would not serve.
		if _, err := cache.ReadGoMod(ctx, path, version); err != nil {
			return err
		}
		if _, _, ok := p.log.Lookup(path, version); ok {
			return nil
		}
		if p.isPrivate(path) {
			return errors.New("the go.mod is stored but the version is not in the log")
		}
		// Stored before this log recorded public versions (or its append
		// failed): the public database still vouches for it.
		err := p.recorded.Record(ctx, path, version)
		if errors.Is(err, verify.ErrNoRecord) {
			return fmt.Errorf("%w: %v", upstream.ErrNotFound, err)
		}
		return err
	}}
}

// setupPrivate opens the own checksum log (checking it against its signed
// tree head) and starts the direct source for private modules.
func setupPrivate(cfg *config.Serve, stateDir string, public *verify.SumDB, log *slog.Logger) (*privateSetup, error) {
	if string(cfg.OwnSumDB) == sumDBName(string(cfg.SumDB)) {
		return nil, &config.Error{Key: "own-sumdb", Err: fmt.Errorf("%q must differ from the public checksum database's name", cfg.OwnSumDB)}
	}
	skey, vkey, err := sumdb.LoadOrCreateKey(ownKeyFile(cfg), string(cfg.OwnSumDB))
	if err != nil {
		return nil, &config.Error{Key: "own-sumdb-key", Err: err}
	}
	own, dropped, err := sumdb.OpenLog(filepath.Join(stateDir, "own-sumdb", string(cfg.OwnSumDB)), skey)
	if err != nil {
		return nil, err
	}
	if dropped > 0 {
		log.Warn("own checksum log: dropped records that were never signed (an earlier crash); they are added again on their next fetch", "records", dropped)
	}
	log.Info("own checksum log", "records", own.Size(), "GOSUMDB", vkey)
	p := &privateSetup{log: own, patterns: strings.Join(cfg.Private.Private, ","), closeFunc: func() { own.Close() }}
	p.recorded = &verify.Recorded{Upstream: public, Ledger: own, Logger: log}
	if p.patterns == "" {
		return p, nil
	}
	creds := direct.Credentials{
		SSHKeyFile:          string(cfg.PrivateSSHKey),
		SSHKnownHosts:       string(cfg.PrivateSSHKnownHosts),
		GitCredentialHelper: string(cfg.PrivateGitCredentialHelper),
	}
	for _, e := range cfg.PrivateNetrc {
		pw, err := e.NetrcPassword()
		if err != nil {
			own.Close()
			return nil, err
		}
		creds.Netrc = append(creds.Netrc, direct.NetrcEntry{Machine: e.Machine, Login: e.Login, Password: pw})
	}
	tmp := filepath.Join(stateDir, "tmp", "private")
	os.RemoveAll(tmp) // work files of an earlier run
	src, err := direct.New(direct.Options{
		Private: p.patterns, Hosts: cfg.PrivateHostList(), TempDir: tmp,
		Timeout: time.Duration(cfg.PrivateTimeout), MaxFetches: int(cfg.PrivateFetches),
		// Child go commands are shared fairly among identities.
		Owner: auth.LimitKey, PerOwner: int(cfg.PrivateFetchesPerIdentity), QueuePerOwner: int(cfg.PrivateQueuePerIdentity),
		Creds: creds, Logger: log,
	})
	if err != nil {
		own.Close()
		return nil, fmt.Errorf("private modules: %w", err)
	}
	p.route = modcache.Route{Name: "private", Source: src, Private: true,
		Checker: &verify.FirstSeen{Ledger: own, Hashes: src.Hashes, Logger: log}}
	p.closeFunc = func() { src.Close(); own.Close() }
	log.Info("private modules", "patterns", p.patterns, "hosts", strings.Join(cfg.PrivateHostList(), ","))
	return p, nil
}

func (p *privateSetup) Close() {
	if p != nil && p.closeFunc != nil {
		p.closeFunc()
	}
}
