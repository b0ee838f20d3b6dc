// Package enforce applies a policy to the proxy's requests: it is the
// server's Gate for the policy file, supplies the facts decisions need
// from the module cache, and swaps in a new policy atomically when the
// file changes or on SIGHUP, keeping the old one if the new one is bad.
package enforce

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/goproxy"
	"github.com/gatehouse-dev/gatehouse/internal/modindex"
	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// Options configures an Enforcer.
type Options struct {
	File   string // the policy file
	Source Source // facts come from here (the module cache)
	Logger *slog.Logger
	// Concurrency bounds the versions of one list whose facts are fetched
	// at once (default 8).
	Concurrency int
	// RetractTTL is how long a module's retractions are kept (default 1m).
	RetractTTL time.Duration

	// The clock of min_age (docs/policy.md): Index dates public versions
	// (nil: no index); FirstSeenFile keeps when gatehouse first saw each
	// version across restarts ("": in memory only); Private tells private
	// module paths, which only first sight dates (nil: none is private);
	// CommitTimeFallback dates what the index cannot by the .info Time,
	// which the author chooses, rather than by first sight.
	Index              *modindex.Index
	FirstSeenFile      string
	Private            func(modPath string) bool
	CommitTimeFallback bool
	// IndexContext bounds the index's background reading (nil: forever).
	IndexContext context.Context
}

// Enforcer is a server.Gate for a policy file.
type Enforcer struct {
	opts  Options
	log   *slog.Logger
	facts *facts
	cur   atomic.Pointer[policy.Policy]

	reloadMu sync.Mutex // one reload at a time
	loadedFP string     // fingerprint of what cur was loaded from
}

// New loads the policy file; a bad file is an error.
func New(opts Options) (*Enforcer, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 8
	}
	if opts.RetractTTL <= 0 {
		opts.RetractTTL = time.Minute
	}
	if opts.Private == nil {
		opts.Private = func(string) bool { return false }
	}
	if opts.IndexContext == nil {
		opts.IndexContext = context.Background()
	}
	if opts.FirstSeenFile != "" {
		if err := os.MkdirAll(filepath.Dir(opts.FirstSeenFile), 0o700); err != nil {
			return nil, err
		}
	}
	c := clock{index: opts.Index, seen: openFirstSeen(opts.FirstSeenFile, opts.Logger), private: opts.Private, commitTime: opts.CommitTimeFallback}
	e := &Enforcer{opts: opts, log: opts.Logger, facts: newFacts(opts.Source, opts.RetractTTL, opts.Concurrency, c, opts.Logger)}
	fp := e.fingerprint(nil)
	p, err := policy.Load(opts.File)
	if err != nil {
		return nil, err
	}
	e.cur.Store(p)
	e.loadedFP = e.fingerprint(p)
	if fp != e.loadedFP {
		e.loadedFP = "" // changed while loading: the next poll loads it again
	}
	e.logLoaded("policy loaded", p)
	return e, nil
}

// Flush waits for the first-seen times recorded so far to be on disk (they
// are written in the background); call it on shutdown.
func (e *Enforcer) Flush() { e.facts.clock.seen.Flush() }

// Policy returns the policy in force.
func (e *Enforcer) Policy() *policy.Policy { return e.cur.Load() }

// Reload loads the policy file again. If it is bad, the error is logged
// and returned and the policy in force stays.
func (e *Enforcer) Reload() error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	return e.reloadLocked()
}

func (e *Enforcer) reloadLocked() error {
	fp := e.fingerprint(e.cur.Load())
	p, err := policy.Load(e.opts.File)
	if err != nil {
		e.log.Error("policy reload refused; the previous policy stays in force", "err", err)
		e.loadedFP = fp // do not retry the same bad file on every poll
		return err
	}
	e.cur.Store(p)
	e.loadedFP = e.fingerprint(p)
	e.logLoaded("policy reloaded", p)
	return nil
}

// logLoaded logs that p is in force, and starts reading the module index
// if p is the first policy with a min_age rule: no traffic to the index
// otherwise.
func (e *Enforcer) logLoaded(msg string, p *policy.Policy) {
	attrs := []any{"file", p.File, "rules", len(p.Rules), "dry_run", p.DryRun}
	if e.opts.Index != nil && p.MaxMinAge() > 0 {
		e.opts.Index.Start(e.opts.IndexContext, p.MaxMinAge()+time.Hour)
		attrs = append(attrs, "module_index", e.opts.Index.URL())
	}
	if p.Vulns != nil {
		attrs = append(attrs, "vuln_db", p.VulnDBDir, "vulns", p.Vulns.Len())
	}
	e.log.Info(msg, attrs...)
}

// Watch reloads on a value from hup (SIGHUP) and when the policy file or
// its vulnerability database index changes (checked every interval; 0:
// never), until ctx is done.
func (e *Enforcer) Watch(ctx context.Context, hup <-chan os.Signal, interval time.Duration) {
	var tick <-chan time.Time
	if interval > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			e.log.Info("SIGHUP: reloading policy")
			e.Reload()
		case <-tick:
			e.reloadMu.Lock()
			if fp := e.fingerprint(e.cur.Load()); fp != e.loadedFP {
				e.reloadLocked()
			}
			e.reloadMu.Unlock()
		}
	}
}

// fingerprint identifies the contents of the policy file and the index of
// the vulnerability database p uses (its entries are replaced with it).
func (e *Enforcer) fingerprint(p *policy.Policy) string {
	h := sha256.New()
	data, err := os.ReadFile(e.opts.File)
	fmt.Fprintf(h, "%v\x00%d\x00", err, len(data))
	h.Write(data)
	if p != nil && p.VulnDBDir != "" {
		st, err := os.Stat(filepath.Join(p.VulnDBDir, "index", "modules.json"))
		if err == nil {
			fmt.Fprintf(h, "\x00%d\x00%d", st.Size(), st.ModTime().UnixNano())
		}
	}
	return fmt.Sprintf("%x", h.Sum(nil))
}

// DeniedError is a refusal by the policy. Its message is what the go
// command shows: the rule and reason first, then details and a way out.
type DeniedError struct {
	Target   string // module@version, or module
	Decision policy.Decision
}

func (e *DeniedError) Error() string {
	d := e.Decision
	as := ""
	switch {
	case d.Spelling != "" && d.Alias != "":
		as = " (as " + d.Spelling + "@" + d.Alias + ", a tag of the same commit)"
	case d.Alias != "":
		as = " (as " + d.Alias + ", a tag of the same commit)"
	case d.Spelling != "":
		as = " (as " + d.Spelling + ")"
	}
	lines := []string{fmt.Sprintf("gatehouse policy: %s is denied by rule %q%s: %s", e.Target, d.Rule, as, d.Reason)}
	if d.Detail != "" {
		lines = append(lines, d.Detail)
	}
	mod, _, _ := strings.Cut(e.Target, "@")
	if strings.Contains(e.Target, "@") {
		lines = append(lines, "Use a version the policy allows ('go list -m -versions "+mod+"' lists them),")
	} else {
		lines = append(lines, "This module is not available to you through this proxy;")
	}
	if d.Line > 0 {
		lines = append(lines, fmt.Sprintf("or ask the proxy's operators about rule %q (line %d of the policy).", d.Rule, d.Line))
	} else {
		lines = append(lines, fmt.Sprintf("or ask the proxy's operators about rule %q of the policy.", d.Rule))
	}
	return strings.Join(lines, "\n")
}

// HTTPStatus makes the refusal a 403: the go command stops there rather
// than trying another proxy.
func (e *DeniedError) HTTPStatus() int { return http.StatusForbidden }

// factError is a decision that could not be made for lack of a fact.
type factError struct {
	status int
	msg    string
}

func (e *factError) Error() string   { return e.msg }
func (e *factError) HTTPStatus() int { return e.status }

// Admit decides a protocol request. A list or @latest request is refused
// only when the policy denies the whole module to the caller; single
// versions of it are filtered by FilterVersions.
func (e *Enforcer) Admit(ctx context.Context, req goproxy.Request) error {
	p := e.cur.Load()
	id := auth.FromContext(ctx)
	en := reqlog.From(ctx)
	if req.Version == "" {
		d, ok := p.DecideModule(id, req.Module)
		if !ok {
			return nil
		}
		return e.apply(en, d, req.Module)
	}
	d, err := p.Decide(ctx, e.facts, id, req.Module, req.Version)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return err
		}
		if errors.Is(err, upstream.ErrNotFound) {
			en.Decision, en.Reason = "allow", "not found"
			return &factError{http.StatusNotFound, "not found: " + req.String()}
		}
		e.log.Warn("policy: cannot decide", "module", req.Module, "version", req.Version, "err", err)
		en.Decision, en.Reason = "error", "policy facts unavailable"
		return &factError{http.StatusBadGateway, fmt.Sprintf(
			"gatehouse policy: cannot check %s: the facts the policy needs (first appearance, retractions, tags of the same commit) are unavailable from the upstream; try again later", req)}
	}
	return e.apply(en, d, req.String())
}

// apply records d in the request's log entry and returns the refusal, if any.
func (e *Enforcer) apply(en *reqlog.Entry, d policy.Decision, target string) error {
	if d.Allow {
		if en.Rule == "" {
			en.Rule = d.Rule
		}
		return nil
	}
	en.Decision, en.Reason, en.Rule = d.Action(), d.Text(), d.Rule
	if d.DryRun {
		return nil
	}
	return &DeniedError{Target: target, Decision: d}
}

// FilterVersions removes the versions the policy denies to the caller.
// Versions whose facts cannot be had are removed too (and logged): a list
// must not offer what a direct request might refuse.
func (e *Enforcer) FilterVersions(ctx context.Context, modPath string, versions []string) ([]string, error) {
	p := e.cur.Load()
	id := auth.FromContext(ctx)
	en := reqlog.From(ctx)
	if d, ok := p.DecideModule(id, modPath); ok {
		if d.Enforced() {
			return nil, nil
		}
		if !d.Allow {
			en.Decision, en.Reason, en.Rule = d.Action(), d.Text(), d.Rule
		}
		return versions, nil
	}
	decisions := make([]policy.Decision, len(versions))
	errs := make([]error, len(versions))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(e.opts.Concurrency)
	for i, v := range versions {
		g.Go(func() error {
			decisions[i], errs[i] = p.Decide(gctx, e.facts, id, modPath, v)
			return nil
		})
	}
	g.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(versions))
	var hidden, wouldHide []string
	firstRule := ""
	for i, v := range versions {
		d, err := decisions[i], errs[i]
		switch {
		case err != nil:
			if !errors.Is(err, upstream.ErrNotFound) {
				e.log.Warn("policy: cannot decide; version left out of the list", "module", modPath, "version", v, "err", err)
			}
			hidden = append(hidden, v+" (facts unavailable)")
		case d.Enforced():
			hidden = append(hidden, v+" ("+d.Rule+")")
			if firstRule == "" {
				firstRule = d.Rule
			}
		case !d.Allow:
			wouldHide = append(wouldHide, v+" ("+d.Rule+")")
			if firstRule == "" {
				firstRule = d.Rule
			}
			out = append(out, v)
		default:
			out = append(out, v)
		}
	}
	switch {
	case len(wouldHide) > 0:
		en.Decision, en.Rule = "would-deny", firstRule
		en.Reason = "would hide " + summary(wouldHide)
		if len(hidden) > 0 {
			en.Reason += "; hid " + summary(hidden)
		}
	case len(hidden) > 0:
		en.Rule = firstRule
		en.Reason = "hid " + summary(hidden)
	}
	return out, nil
}

// summary lists up to 5 items for a log line.
func summary(items []string) string {
	if len(items) <= 5 {
		return strings.Join(items, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(items[:5], ", "), len(items)-5)
}
