package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/airgap"
	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datalock"
	"github.com/gatehouse-dev/gatehouse/internal/logbuf"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/modcache"
	"github.com/gatehouse-dev/gatehouse/internal/server"
	"github.com/gatehouse-dev/gatehouse/internal/spelling"
	"github.com/gatehouse-dev/gatehouse/internal/storage/fs"
	"github.com/gatehouse-dev/gatehouse/internal/sumdb"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
	"github.com/gatehouse-dev/gatehouse/internal/verify"
)

func init() {
	register(&command{
		name:    "serve",
		summary: "run the module proxy (GOPROXY server)",
		run:     runServe,
	})
}

func runServe(ctx context.Context, env *cmdEnv, args []string) int {
	// Catch SIGHUP from the start: unhandled, it would end the process, and
	// an operator may reload while serve is still starting. The signal is
	// kept for onHangup.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg, code := loadServeConfig(env, "serve", "serve [flags]\n\nRuns the GOPROXY server. Every flag is also an environment variable\nand a key of the TOML file given with --config (see docs/configuration.md).", args, true)
	if code >= 0 {
		return code
	}
	if err := checkExposure(cfg); err != nil {
		fmt.Fprintln(env.stderr, "gatehouse serve: "+err.Error())
		return 2
	}
	// Request lines are buffered and written out together (every
	// logFlush, and at exit, SIGTERM included); everything else goes out
	// at once, after them, so the stream keeps its order.
	logOut := logbuf.New(env.stderr, logFlush, 64<<10)
	defer logOut.Close()
	log := newLogger(logOut.Direct(), string(cfg.LogFormat), string(cfg.LogLevel))
	reqLog := newLogger(logOut, string(cfg.LogFormat), string(cfg.LogLevel))
	// Before anything is read or written: a second serve on the same data
	// directory would write the store and the logs beside this one.
	lock, err := datalock.Acquire(string(cfg.Data))
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	defer lock.Release()

	acc, err := buildAccess(ctx, cfg, log, env.stdout)
	if err != nil {
		return startFailed(env, log, err)
	}
	defer acc.Close(log)
	mets := newMetrics(cfg)
	srv, err := buildServer(ctx, cfg, log, reqLog, acc, mets)
	if err != nil {
		return startFailed(env, log, err)
	}
	// SIGHUP puts new credentials and access rules in force.
	onHangup(ctx, hup, log, func() ([]string, error) {
		next, err := rereadServeConfig(env, args)
		if err == nil {
			err = acc.Reload(ctx, next, log)
		}
		if err != nil {
			return nil, err
		}
		return restartOnlyChanges(cfg, next), nil
	})
	ln, err := net.Listen("tcp", string(cfg.Listen))
	if err != nil {
		log.Error("cannot listen", "err", err)
		return 1
	}
	ln = acc.Listener(ln)
	mln, err := listenMetrics(cfg)
	if err != nil {
		ln.Close()
		log.Error("cannot listen for metrics", "err", err)
		return 1
	}
	pln, err := listenMetricsAt(string(cfg.PprofListen))
	if err != nil {
		ln.Close()
		if mln != nil {
			mln.Close()
		}
		log.Error("cannot listen for pprof", "err", err)
		return 1
	}
	log.Info("gatehouse serving", "listen", ln.Addr().String(), "data", string(cfg.Data),
		"upstream", string(cfg.Redacted().Upstream), "sumdb", sumDBName(string(cfg.SumDB)), "version", buildVersion(), "tls", acc.TLS != nil,
		"offline", bool(cfg.Offline), metricsAttr(mln), pprofAttr(pln))
	stopMetrics := serveMetrics(ctx, mln, mets, log)
	defer stopMetrics()
	stopPprof := servePprof(ctx, pln, log)
	defer stopPprof()
	notifySystemd(ctx, env, log, ln.Addr().String())
	if err := srv.Serve(ctx, ln, acc.TLS, time.Duration(cfg.ShutdownTimeout)); err != nil {
		log.Error("server stopped", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}

// onHangup calls reload at each SIGHUP until ctx ends. reload returns the
// changed settings that take effect only at restart, or why the new
// configuration was refused; the one in force then stays. serve and docker
// share it.
func onHangup(ctx context.Context, hup <-chan os.Signal, log *slog.Logger, reload func() (restartOnly []string, err error)) {
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			changed, err := reload()
			if err != nil {
				log.Error("config reload refused; the configuration in force stays", "err", err)
				continue
			}
			if len(changed) > 0 {
				log.Warn("changed settings take effect only at restart", "keys", strings.Join(changed, ","))
			}
		}
	}()
}

// startFailed reports why serve cannot start: a setting whose value turned
// out bad only when used (a file that does not parse, a CIDR) is a usage
// error, one line naming the key and exit 2, like those Validate finds.
func startFailed(env *cmdEnv, log *slog.Logger, err error) int {
	var ce *config.Error
	if errors.As(err, &ce) {
		fmt.Fprintln(env.stderr, "gatehouse serve: "+err.Error())
		return 2
	}
	log.Error("cannot start", "err", err)
	return 1
}

// logFlush is how long a request's log line may wait in memory.
const logFlush = 250 * time.Millisecond

// buildServer wires storage, upstream, verification and cache into a server;
// reqLog (nil: log) gets the request lines; acc may be nil: no access
// control (tests); mets may be nil: no metrics.
func buildServer(ctx context.Context, cfg *config.Serve, log, reqLog *slog.Logger, acc *accessParts, mets *metrics.Metrics) (*server.Server, error) {
	if acc == nil {
		acc = &accessParts{}
	}
	if cfg.Offline {
		// Nothing may reach out: not the module index either.
		c := *cfg
		c.ModuleIndex = "off"
		cfg = &c
	}
	dataDir := string(cfg.Data)
	store, err := fs.New(dataDir)
	if err != nil {
		return nil, err
	}
	// Temporary files of writes a crash cut short: never served, but they
	// take space. The walk covers the whole store, so it runs aside.
	go func() {
		if n, err := store.RemoveStaleTemp(time.Hour); err != nil {
			log.Warn("removing temporary files left by an earlier crash", "err", err)
		} else if n > 0 {
			log.Info("removed temporary files left by an earlier crash", "files", n)
		}
	}()
	stateDir := filepath.Join(dataDir, ".gatehouse")
	client := &http.Client{Transport: upstreamTransport()}
	chain, err := upstream.ParseChain(string(cfg.Upstream), client)
	if err != nil {
		return nil, fmt.Errorf("upstream: %w", err)
	}
	chain.SetLogger(log)
	name := sumDBName(string(cfg.SumDB))
	sumURL := string(cfg.SumDBURL)
	if sumURL == "" {
		sumURL = chain.First().URL() + "/sumdb/" + name
	}
	checker, err := verify.NewSumDB(verify.SumDBOptions{
		Key: string(cfg.SumDB), URL: sumURL, StateDir: filepath.Join(stateDir, "sumdb", name),
		NoSumDB: cfg.NoSumDB, Client: client, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	// Lives as long as the process: the log is synced on every append, and
	// work files are removed at the next start.
	priv, err := setupPrivate(cfg, stateDir, checker, log)
	if err != nil {
		return nil, err
	}
	route := priv.routeFor(modcache.Route{Name: "public", Source: chain, Checker: priv.recorded})
	if cfg.Offline {
		// Every module, private ones too, from the store alone.
		offline := modcache.Route{Name: "offline", Source: airgap.OfflineSource{Store: store}, Checker: airgap.OfflineChecker{}}
		route = func(string) modcache.Route { return offline }
	}
	cache, err := modcache.New(modcache.Options{
		Store:       store,
		Route:       route,
		TempDir:     filepath.Join(stateDir, "tmp"),
		MaxFetches:  int(cfg.MaxFetches),
		Timeout:     time.Duration(cfg.UpstreamTimeout),
		MaxZipSize:  int64(cfg.MaxZipSize),
		Logger:      log,
		Observer:    cacheObserver(mets),
		NotFoundTTL: notFoundTTL(time.Duration(cfg.PrivateNotFoundTTL)),
		Owner:       auth.LimitKey,
		// Lists and @latest kept in memory, misses' siblings prefetched:
		// docs/configuration.md.
		ListTTL: time.Duration(cfg.ListTTL), PrivateListTTL: time.Duration(cfg.PrivateListTTL),
		ListMaxStale: time.Duration(cfg.ListMaxStale), PrefetchWorkers: int(cfg.PrefetchWorkers),
		// @v/list rewrites wait here rather than in the fetch's answer.
		ListQueue: 1024,
	})
	if err != nil {
		priv.Close()
		return nil, err
	}
	var sumdbs sumdb.Registry
	// Clients' tiles and lookups come from what verification keeps first.
	sumdbs.Add(name, &sumdb.Proxy{Name: name, URL: sumURL, Store: store, Client: client, Logger: log, Private: priv.isPrivate, Verified: checker,
		Offline: bool(cfg.Offline), LatestFile: filepath.Join(airgap.StateDir(dataDir, name), "latest")})
	sumdbs.Add(string(cfg.OwnSumDB), priv.ownSumDB(cache, log))
	probeURL := chain.First().URL() + "/"
	// Access rules first: a policy refusal must not reveal a module the
	// caller may not see.
	gates := append([]server.Gate(nil), acc.Gates...)
	// One name per private repository: lib.git.git is refused as not found.
	gates = append(gates, spelling.Gate{Private: priv.isPrivate})
	if cfg.Policy != "" {
		enf, err := startPolicy(ctx, cfg, stateDir, cache, client, log)
		if err != nil {
			return nil, &config.Error{Key: "policy", Err: err}
		}
		gates = append(gates, enf)
	}
	return server.New(server.Options{
		Cache:        cache,
		SumDB:        &sumdbs,
		Logger:       log,
		RequestLog:   reqLog,
		Middleware:   acc.Middleware,
		Gates:        gates,
		OnDone:       acc.OnDone,
		Observe:      requestObserver(mets),
		WriteTimeout: time.Duration(cfg.WriteTimeout),
		UpstreamProbe: func(ctx context.Context) error {
			if cfg.Offline {
				return nil // no upstream to be ready for
			}
			req, err := http.NewRequestWithContext(ctx, "GET", probeURL, nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			return nil
		},
	}), nil
}

// notFoundTTL maps private_not_found_ttl to modcache's NotFoundTTL, where
// 0 means the default and a negative value "never".
func notFoundTTL(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// sumDBName returns the database name of a GOSUMDB-style value.
func sumDBName(s string) string {
	name, _, _ := strings.Cut(s, "+")
	return name
}

func upstreamTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 32
	t.ResponseHeaderTimeout = time.Minute
	return t
}

func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	lv.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
