package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
	"github.com/gatehouse-dev/gatehouse/internal/docker/guard"
	"github.com/gatehouse-dev/gatehouse/internal/docker/inspect"
	"github.com/gatehouse-dev/gatehouse/internal/docker/listen"
	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
	"github.com/gatehouse-dev/gatehouse/internal/metrics"
	"github.com/gatehouse-dev/gatehouse/internal/sdlisten"
)

func init() {
	register(&command{
		name:    "docker",
		summary: "guard a Docker Engine socket: per-client rules over mTLS or a unix socket",
		run:     runDocker,
	})
}

const dockerSynopsis = `docker [flags]

Stands in front of the Docker daemon's socket and forwards only what each
client's profile allows. Clients are identified by their TLS client
certificate (TCP listeners) or their uid/gid (unix listeners); profiles,
clients and the bind allowlist are set in the TOML file given with --config.
A client no entry names may do nothing. See docs/docker.md.

Example:
  gatehouse docker --config /etc/gatehouse/docker.toml \
    --listen 127.0.0.1:2376,unix:///run/gatehouse/docker.sock \
    --tls-cert server.pem --tls-key server-key.pem --client-ca ca.pem`

func runDocker(ctx context.Context, env *cmdEnv, args []string) int {
	// Catch SIGHUP from the start, as serve does: unhandled, it would end
	// the process while it is still starting.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	cfg := config.DefaultDocker()
	fs := newFlagSet(env, "docker", dockerSynopsis)
	list, configFile := dockerFlags(fs, cfg)
	if code := parseFlags(env, fs, args); code >= 0 {
		return code
	}
	if *list {
		listEndpoints(env.stdout)
		return 0
	}
	fail := func(err error) int {
		fmt.Fprintln(env.stderr, "gatehouse docker: "+err.Error())
		return 2
	}
	if err := loadDockerConfig(env, fs, cfg, *configFile); err != nil {
		return fail(err)
	}
	clients, inspector, err := dockerRules(cfg)
	if err != nil {
		return fail(err)
	}
	log := newLogger(env.stderr, string(cfg.LogFormat), string(cfg.LogLevel))
	var tlsCfg *tls.Config
	if cfg.TLSCert != "" || cfg.TLSKey != "" || cfg.ClientCA != "" {
		c, err := listen.TLSConfig(string(cfg.TLSCert), string(cfg.TLSKey), string(cfg.ClientCA), log)
		if err != nil {
			return fail(&config.Error{Key: "tls-cert", Err: err})
		}
		tlsCfg = c
	}
	mode, err := listen.ParseMode(string(cfg.SocketMode))
	if err != nil {
		return fail(&config.Error{Key: "socket-mode", Err: err})
	}
	sink, closeSink, err := dockerAudit(env, cfg, log)
	if err != nil {
		var ce *config.Error
		if !errors.As(err, &ce) {
			err = &config.Error{Key: "audit-file", Err: err}
		}
		return fail(err)
	}
	defer closeSink()

	// Metrics have their own plain-HTTP listener, as serve's do; nil
	// metrics count nothing.
	mln, err := listenMetricsAt(string(cfg.MetricsListen))
	if err != nil {
		log.Error("cannot listen", "metrics_listen", string(cfg.MetricsListen), "err", err)
		return 1
	}
	var observer guard.Observer
	if mln != nil {
		m := metrics.NewDocker(buildVersion())
		observer = m
		stop := serveMetricsHandler(ctx, mln, m.Handler(), log)
		defer stop()
		log.Info("gatehouse docker metrics", metricsAttr(mln))
	}

	g, err := guard.New(guard.Options{
		Socket:    string(cfg.Socket),
		Clients:   clients,
		Inspector: inspector,
		Audit:     sink,
		Logger:    log,
		Metrics:   observer,
	})
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}

	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	// Unix sockets systemd passes (dist/systemd/gatehouse-docker.socket)
	// stand in for the listen addresses they name.
	activated, err := sdlisten.Listeners(env.getenv, os.Getpid())
	if err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	for _, ln := range activated {
		lns = append(lns, ln) // closed at return, used or not
	}
	for _, addr := range cfg.Listen {
		var ln net.Listener
		path, unix := strings.CutPrefix(addr, config.UnixPrefix)
		// Only unix sockets: a TCP one would need this process's TLS.
		if _, ok := activated[addr]; ok && unix {
			delete(activated, addr) // already in lns
			log.Info("socket from systemd", "listen", addr)
			continue
		}
		if unix {
			ln, err = listen.Unix(path, mode, string(cfg.SocketGroup))
		} else {
			ln, err = listen.TLS(addr, tlsCfg)
		}
		if err != nil {
			log.Error("cannot listen", "listen", addr, "err", err)
			return 1
		}
		lns = append(lns, ln)
	}
	for addr := range activated {
		log.Error("cannot start: systemd passed a socket that --listen does not name (only unix:// sockets are taken)", "socket", addr)
		return 1
	}

	srv := &http.Server{
		Handler:           g,
		ConnContext:       guard.ConnContext,
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn), // failed TLS handshakes among them
	}
	if len(clients) == 0 {
		log.Warn("no [[clients]] configured: every request will be refused")
	}
	for i, c := range cfg.Clients {
		if c.Profile == "full" || cfg.Profiles[c.Profile].Unrestricted {
			log.Warn("a client may do almost anything: treat it as root on the Docker host", "client", i, "profile", c.Profile)
		}
	}
	onHangup(ctx, hup, log, func() ([]string, error) { return reloadDocker(env, args, cfg, g, log) })
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		log.Info("gatehouse docker listening", "listen", listenName(ln), "socket", string(cfg.Socket), "clients", len(clients), "version", buildVersion())
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		log.Error("server stopped", "err", err)
		return 1
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		// Streams (events, logs -f) outlived the timeout: end them.
		log.Warn("shutdown: closing open streams", "err", err)
		srv.Close()
	}
	log.Info("stopped")
	return 0
}

func dockerFlags(fs *flag.FlagSet, cfg *config.Docker) (list *bool, configFile *string) {
	configFile = config.Bind(fs, cfg.Keys())
	list = fs.Bool("list-endpoints", false, "print the Docker Engine API endpoints that rules may name, and the presets, then exit")
	return list, configFile
}

// loadDockerConfig reads the environment and file into cfg, under the
// flags fs has parsed, and validates it.
func loadDockerConfig(env *cmdEnv, fs *flag.FlagSet, cfg *config.Docker, configFile string) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err := config.Load(fs, cfg.Keys(), configFile, cfg, env.getenv); err != nil {
		return err
	}
	return cfg.Validate()
}

// dockerRules builds what a reload may replace: the clients with their
// profiles, and the body inspector with its bind allowlist and size limit.
func dockerRules(cfg *config.Docker) ([]guard.Client, *inspect.Inspector, error) {
	clients, err := dockerClients(cfg)
	if err != nil {
		return nil, nil, err
	}
	allow, err := inspect.NewAllowlist(cfg.BindAllowlist, cfg.BindWritable)
	if err != nil {
		return nil, nil, &config.Error{Key: "bind-allowlist", Err: err}
	}
	return clients, inspect.New(allow, int64(cfg.MaxBody)), nil
}

// dockerReloadable are the keys a reload puts in force, besides the
// file-only [profiles] and [[clients]].
var dockerReloadable = map[string]bool{"bind-allowlist": true, "bind-writable": true, "max-body": true}

// reloadDocker reads the configuration again and puts its clients,
// profiles and body rules in force; it returns the changed settings that
// need a restart. A configuration that does not load changes nothing.
func reloadDocker(env *cmdEnv, args []string, started *config.Docker, g *guard.Guard, log *slog.Logger) ([]string, error) {
	cfg := config.DefaultDocker()
	fs := flag.NewFlagSet("docker", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	_, configFile := dockerFlags(fs, cfg)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if err := loadDockerConfig(env, fs, cfg, *configFile); err != nil {
		return nil, err
	}
	clients, in, err := dockerRules(cfg)
	if err != nil {
		return nil, err
	}
	if err := g.Update(clients, in); err != nil {
		return nil, err
	}
	log.Info("docker rules reloaded", "clients", len(clients), "profiles", len(cfg.Profiles))
	return changedKeys(started.Keys(), cfg.Keys(), dockerReloadable), nil
}

func listenName(ln net.Listener) string {
	if a, ok := ln.Addr().(*net.UnixAddr); ok {
		return config.UnixPrefix + a.Name
	}
	return ln.Addr().String()
}

func listEndpoints(w io.Writer) {
	fmt.Fprintf(w, "# Docker Engine API %s endpoints (rules: \"METHOD /path\", or a prefix ending in /**)\n", api.SpecVersion)
	for _, e := range api.Endpoints() {
		fmt.Fprintf(w, "%-6s %-40s %s\n", e.Method, e.Path, e.Operation)
	}
	for _, name := range rules.PresetNames() {
		fmt.Fprintf(w, "\n# preset %s\n%s\n", name, strings.Join(rules.PresetRules(name), "\n"))
	}
}

// dockerClients compiles the profiles of cfg and maps each client to one.
// A client may name a [profiles.NAME] or a preset directly.
func dockerClients(cfg *config.Docker) ([]guard.Client, error) {
	profiles := map[string]*rules.Profile{}
	for name, p := range cfg.Profiles {
		key := "profiles." + name
		if _, isPreset := rules.Preset(name); isPreset {
			return nil, &config.Error{Key: key, Err: fmt.Errorf("%q is the name of a preset; give the profile another name", name)}
		}
		prof, err := rules.Compile(name, p.Presets, p.Allow, p.Unrestricted)
		if err != nil {
			return nil, &config.Error{Key: key, Err: err}
		}
		prof.Registries, prof.LogDrivers = p.Registries, p.LogDrivers
		profiles[name] = prof
	}
	// owner_scoped belongs to a [profiles] entry; presets are not scoped.
	for name, p := range cfg.Profiles {
		profiles[name].OwnerScoped = p.OwnerScoped
	}
	var out []guard.Client
	for i, c := range cfg.Clients {
		prof, ok := profiles[c.Profile]
		if !ok {
			prof, ok = rules.Preset(c.Profile)
		}
		if !ok {
			return nil, &config.Error{Key: fmt.Sprintf("clients[%d].profile", i),
				Err: fmt.Errorf("%q is neither a [profiles] entry nor a preset (%s)", c.Profile, strings.Join(rules.PresetNames(), ", "))}
		}
		out = append(out, guard.Client{Cert: c.Cert, UID: c.UID, GID: c.GID, Profile: prof})
	}
	return out, nil
}

// dockerAudit opens the audit log: the same hash-chained writer as serve's,
// to a file, standard output, or both.
func dockerAudit(env *cmdEnv, cfg *config.Docker, log *slog.Logger) (audit.Sink, func(), error) {
	o := audit.Options{File: string(cfg.AuditFile), MaxSize: int64(cfg.AuditMaxSize), MaxFiles: int(cfg.AuditMaxFiles), Replica: string(cfg.ReplicaID), Logger: log}
	if cfg.AuditStdout {
		o.Stdout = env.stdout
	}
	if cfg.AuditKeyFile != "" {
		key, err := audit.LoadKey(string(cfg.AuditKeyFile))
		if err != nil {
			return nil, nil, &config.Error{Key: "audit-key-file", Err: err}
		}
		o.Key = key
	}
	l, err := audit.Open(o)
	if err != nil {
		return nil, nil, err
	}
	return l, func() {
		seq, hash := l.Head()
		if err := l.Close(); err != nil {
			log.Error("AUDIT: closing the audit log", "err", err)
		}
		log.Info("audit log closed", "seq", seq, "hash", hash)
	}, nil
}
