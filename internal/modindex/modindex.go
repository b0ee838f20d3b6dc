// Package modindex follows a module index in the format of the Go module
// mirror's index.golang.org: GET <url>?since=<RFC3339>&limit=<n> answers
// JSON lines {"Path","Version","Timestamp"}, oldest first, Timestamp being
// when the mirror first fetched that version. The index tells when a
// version first appeared, a time its author cannot choose, unlike the
// commit time in the version's .info.
//
// The index is one feed of every module, with no per-module query, so it
// is read from the start of a window (the longest age a policy asks
// about) up to now, kept in memory, and followed from there. A version
// the index does not list, although it has been read past the moment the
// caller had the version from the mirror, appeared before the window.
package modindex

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// ErrUnknown means the index cannot tell when a version appeared: it has
// not been read far enough, or it cannot be reached.
var ErrUnknown = errors.New("the module index cannot tell")

// Options configures an Index.
type Options struct {
	URL    string        // e.g. https://index.golang.org/index
	Client *http.Client  // nil: http.DefaultClient
	Poll   time.Duration // between reads while following (default 1m)
	Limit  int           // lines asked per page (default 2000, the index's maximum)
	// Wait bounds how long Lookup waits for the index to be read past the
	// moment asked about (it lags the mirror a little); default 10s.
	Wait   time.Duration
	Logger *slog.Logger
}

// Index is a followed module index.
type Index struct {
	opts Options
	log  *slog.Logger
	read singleflight.Group

	mu      sync.Mutex
	start   time.Time            // entries from here on are all known
	through time.Time            // the index has been read up to here
	cursor  time.Time            // since= of the next page
	window  time.Duration        // of Start
	first   map[string]time.Time // path@version → Timestamp
	pruned  time.Time
	failed  time.Time // of the last read that failed
	lastErr error
	gaveUp  time.Time // the last time Lookup waited in vain
	runOnce sync.Once
}

// New returns an Index; nothing is fetched before Start or Lookup.
func New(opts Options) *Index {
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.Poll <= 0 {
		opts.Poll = time.Minute
	}
	if opts.Limit <= 0 {
		opts.Limit = 2000
	}
	if opts.Wait <= 0 {
		opts.Wait = 10 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	now := time.Now()
	return &Index{opts: opts, log: opts.Logger, start: now, cursor: now, first: map[string]time.Time{}}
}

// URL is the index's address, for logs.
func (x *Index) URL() string { return x.opts.URL }

// Start reads the index from window ago and follows it in the background
// until ctx is done; calling it again does nothing. A longer window asked
// for later is not read back: versions older than the first window then
// count as old as that window (never older than they are).
func (x *Index) Start(ctx context.Context, window time.Duration) {
	x.runOnce.Do(func() {
		x.mu.Lock()
		if x.through.IsZero() {
			x.window = window
			x.start = time.Now().Add(-window)
			x.cursor = x.start
		}
		x.mu.Unlock()
		go func() {
			t := time.NewTicker(x.opts.Poll)
			defer t.Stop()
			began, caughtUp := time.Now(), false
			for {
				err := x.Sync(ctx)
				switch {
				case err != nil && ctx.Err() == nil:
					x.log.Warn("module index: read failed; versions it does not list yet are dated by first sight", "index", x.opts.URL, "err", err)
				case err == nil && !caughtUp:
					caughtUp = true
					x.log.Info("module index: read up to now", "index", x.opts.URL, "window", window, "versions", x.Len(),
						"duration", time.Since(began).Round(time.Millisecond))
				}
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
			}
		}()
	})
}

// retryAfter is how long a failed read is not tried again: every lookup
// does not knock on an index that is down.
const retryAfter = 10 * time.Second

// Sync reads the index from where it stopped up to its end; concurrent
// calls share one read.
func (x *Index) Sync(ctx context.Context) error {
	x.mu.Lock()
	if time.Since(x.failed) < retryAfter {
		err := x.lastErr
		x.mu.Unlock()
		return err
	}
	x.mu.Unlock()
	ch := x.read.DoChan("", func() (any, error) {
		err := x.readAll(context.WithoutCancel(ctx))
		if err != nil {
			x.mu.Lock()
			x.failed, x.lastErr = time.Now(), err
			x.mu.Unlock()
		}
		return nil, err
	})
	select {
	case r := <-ch:
		return r.Err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (x *Index) readAll(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	for {
		full, err := x.readPage(ctx)
		if err != nil || !full {
			return err
		}
	}
}

type entry struct {
	Path, Version string
	Timestamp     time.Time
}

// readPage reads one page from the cursor and reports whether it was full.
func (x *Index) readPage(ctx context.Context) (bool, error) {
	x.mu.Lock()
	since := x.cursor
	x.mu.Unlock()
	u := x.opts.URL + "?since=" + url.QueryEscape(since.UTC().Format(time.RFC3339Nano)) + "&limit=" + strconv.Itoa(x.opts.Limit)
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		return false, err
	}
	resp, err := x.opts.Client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%s answered %s", x.opts.URL, resp.Status)
	}
	var page []entry
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 4096), 64<<10)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Path == "" || e.Version == "" || e.Timestamp.IsZero() {
			return false, fmt.Errorf("%s: bad line %q", x.opts.URL, truncate(sc.Text()))
		}
		page = append(page, e)
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("%s: %w", x.opts.URL, err)
	}
	newest := since
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, e := range page {
		key := e.Path + "@" + e.Version
		if t, ok := x.first[key]; !ok || e.Timestamp.Before(t) {
			x.first[key] = e.Timestamp
		}
		if e.Timestamp.After(newest) {
			newest = e.Timestamp
		}
	}
	full := len(page) >= x.opts.Limit
	if full && !newest.After(since) {
		// A whole page of one timestamp: step past it rather than loop.
		newest = since.Add(time.Nanosecond)
	}
	x.cursor = newest
	x.pruneLocked(time.Now())
	// Read to its end now, the index is complete up to the newest entry
	// (since= is inclusive, so entries of that same instant come again).
	if newest.After(x.through) {
		x.through = newest
	}
	return full, nil
}

// pruneLocked forgets, once an hour, the entries an hour older than the
// window: memory stays bounded by the window, and the window's start moves
// with them (an older version's age is then counted from there, which
// can only make it younger, never older).
func (x *Index) pruneLocked(now time.Time) {
	cut := now.Add(-x.window - time.Hour)
	if now.Sub(x.pruned) < time.Hour || !cut.After(x.start) {
		return
	}
	x.pruned = now
	for k, t := range x.first {
		if t.Before(cut) {
			delete(x.first, k)
		}
	}
	x.start = cut
}

func truncate(s string) string {
	if len(s) > 100 {
		return s[:100] + "…"
	}
	return s
}

// Lookup returns when path@version first appeared in the index. had is
// when the caller had the version from the mirror: if the index, read up
// to had or later (reading it now if need be), does not list the version,
// the version appeared before the index's window, and Lookup returns the
// window's start with before set. It returns ErrUnknown when the index
// has not been read up to had (it lags, or cannot be reached).
func (x *Index) Lookup(ctx context.Context, path, version string, had time.Time) (t time.Time, before bool, err error) {
	deadline := time.Now().Add(x.opts.Wait)
	for {
		if t, before, ok := x.lookup(path, version, had); ok {
			return t, before, nil
		}
		// A long read (the whole window, at start) goes on in the
		// background; this lookup waits for it only until its deadline.
		wctx, cancel := context.WithDeadline(ctx, deadline)
		serr := x.Sync(wctx)
		cancel()
		if ctx.Err() != nil {
			return time.Time{}, false, ctx.Err()
		}
		if errors.Is(serr, context.DeadlineExceeded) {
			serr = nil // still reading: the deadline check below ends the wait
		}
		if t, before, ok := x.lookup(path, version, had); ok {
			return t, before, nil
		}
		if serr != nil {
			return time.Time{}, false, fmt.Errorf("%w: %v", ErrUnknown, serr)
		}
		if through, done := x.stopWaiting(deadline); done {
			return time.Time{}, false, fmt.Errorf("%w: %s is not listed, and the index is read only up to %s", ErrUnknown,
				path+"@"+version, through.UTC().Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return time.Time{}, false, ctx.Err()
		case <-time.After(min(time.Second, time.Until(deadline)+time.Millisecond)):
		}
	}
}

// stopWaiting reports whether Lookup should give up: past its deadline, or
// another Lookup gave up a moment ago (the index lags: a list of many new
// versions must not wait for each in turn).
func (x *Index) stopWaiting(deadline time.Time) (through time.Time, stop bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if time.Since(x.gaveUp) < x.opts.Poll {
		return x.through, true
	}
	if time.Now().After(deadline) {
		x.gaveUp = time.Now()
		return x.through, true
	}
	return time.Time{}, false
}

func (x *Index) lookup(path, version string, had time.Time) (time.Time, bool, bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if t, ok := x.first[path+"@"+version]; ok {
		return t, false, true
	}
	if !x.through.Before(had) {
		return x.start, true, true
	}
	return time.Time{}, false, false
}

// Len is the number of versions held, for logs.
func (x *Index) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.first)
}
