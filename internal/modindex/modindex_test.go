package modindex

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"
)

// fakeIndex serves entries as index.golang.org does (JSON lines, oldest
// first, since= inclusive, at most limit=); the real index cannot be
// reached from tests.
type fakeIndex struct {
	mu      sync.Mutex
	entries []entry
	status  int
	raw     string // served as is, if set
	delay   time.Duration
	asked   []string
}

func (f *fakeIndex) add(path, version string, t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, entry{path, version, t.UTC()})
	sort.SliceStable(f.entries, func(i, j int) bool { return f.entries[i].Timestamp.Before(f.entries[j].Timestamp) })
}

func (f *fakeIndex) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	delay := f.delay
	f.mu.Unlock()
	time.Sleep(delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, r.URL.RawQuery)
	if f.status != 0 {
		http.Error(w, "down", f.status)
		return
	}
	if f.raw != "" {
		w.Write([]byte(f.raw))
		return
	}
	since, err := time.Parse(time.RFC3339Nano, r.URL.Query().Get("since"))
	limit, lerr := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil || lerr != nil {
		http.Error(w, "bad query", 400)
		return
	}
	n := 0
	for _, e := range f.entries {
		if e.Timestamp.Before(since) || n == limit {
			continue
		}
		data, _ := json.Marshal(e)
		w.Write(append(data, '\n'))
		n++
	}
}

func newTest(t *testing.T, f *fakeIndex, limit int) *Index {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return New(Options{URL: srv.URL, Limit: limit, Wait: 50 * time.Millisecond})
}

func TestLookupPagesAndDates(t *testing.T) {
	now := time.Now().UTC().Truncate(time.Second)
	f := &fakeIndex{}
	for i := 0; i < 7; i++ {
		f.add("example.com/m", "v1.0."+strconv.Itoa(i), now.Add(-time.Duration(7-i)*time.Hour))
	}
	f.add("example.com/m", "v1.0.3", now.Add(-time.Minute)) // listed again later: the first time counts
	f.add("example.com/beat", "v0.0.1", now)                // read up to now
	x := newTest(t, f, 2)
	x.Start(t.Context(), 72*time.Hour)
	got, before, err := x.Lookup(context.Background(), "example.com/m", "v1.0.3", now)
	if err != nil || before || !got.Equal(now.Add(-4*time.Hour)) {
		t.Errorf("v1.0.3: %v %v %v, want %v", got, before, err, now.Add(-4*time.Hour))
	}
	if len(f.asked) < 5 {
		t.Errorf("read in %d pages of 2, want at least 5: %v", len(f.asked), f.asked)
	}
	// Not listed, and read past the moment the caller had it: older than the window.
	got, before, err = x.Lookup(context.Background(), "example.com/old", "v1.0.0", now.Add(-time.Second))
	if err != nil || !before || time.Since(got) < 72*time.Hour {
		t.Errorf("old version: %v %v %v, want the window's start, 72h ago", got, before, err)
	}
	if x.Len() != 8 {
		t.Errorf("holds %d versions, want 8", x.Len())
	}
}

// An index that has not been read up to the moment asked about, or that
// cannot be reached, cannot tell: never "old".
func TestLookupCannotTell(t *testing.T) {
	f := &fakeIndex{}
	f.add("example.com/m", "v1.0.0", time.Now().Add(-time.Hour))
	x := newTest(t, f, 10)
	// The caller had the version just now; the index lists nothing newer.
	if _, _, err := x.Lookup(context.Background(), "example.com/fresh", "v1.0.0", time.Now()); !errors.Is(err, ErrUnknown) {
		t.Errorf("lagging index: %v, want ErrUnknown", err)
	}
	f.mu.Lock()
	f.status = 503
	f.mu.Unlock()
	y := newTest(t, f, 10)
	if _, _, err := y.Lookup(context.Background(), "example.com/m", "v1.0.0", time.Now().Add(-2*time.Hour)); !errors.Is(err, ErrUnknown) {
		t.Errorf("index down: %v, want ErrUnknown", err)
	}
}

func TestBadIndexRefused(t *testing.T) {
	for _, raw := range []string{"not json\n", `{"Path":"","Version":"v1.0.0","Timestamp":"2026-01-01T00:00:00Z"}` + "\n", `{"Path":"a.b/c"}` + "\n"} {
		x := newTest(t, &fakeIndex{raw: raw}, 10)
		if err := x.Sync(context.Background()); err == nil {
			t.Errorf("%q: accepted", raw)
		}
		if x.Len() != 0 {
			t.Errorf("%q: kept %d versions", raw, x.Len())
		}
	}
}

// A whole page of one instant (since= is inclusive) does not loop forever.
func TestFullPageOfOneInstant(t *testing.T) {
	ts := time.Now().Add(-time.Hour)
	f := &fakeIndex{}
	for i := 0; i < 5; i++ {
		f.add("example.com/m", "v1.0."+strconv.Itoa(i), ts)
	}
	x := newTest(t, f, 5)
	x.Start(t.Context(), 2*time.Hour)
	done := make(chan error, 1)
	go func() { done <- x.Sync(context.Background()) }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Sync did not end")
	}
}

// Entries an hour older than the window are forgotten, and the window's
// start moves with them: memory stays bounded, and an older version then
// counts from the new start (younger, never older, than it is).
func TestPrune(t *testing.T) {
	now := time.Now()
	f := &fakeIndex{}
	f.add("example.com/m", "v1.0.0", now.Add(-30*time.Minute))
	f.add("example.com/m", "v1.1.0", now.Add(-10*time.Minute))
	x := newTest(t, f, 10)
	x.Start(t.Context(), time.Hour)
	if err := x.Sync(context.Background()); err != nil || x.Len() != 2 {
		t.Fatalf("%v, %d versions", err, x.Len())
	}
	x.mu.Lock()
	x.pruneLocked(now.Add(105 * time.Minute)) // the cut: window and an hour before, 15 minutes ago
	start := x.start
	x.mu.Unlock()
	if x.Len() != 1 || !start.Equal(now.Add(-15*time.Minute)) {
		t.Errorf("after pruning: %d versions, start %v", x.Len(), start)
	}
}

// Once a Lookup waited in vain, the next ones do not wait again, and a
// failed read is not retried at once: a list of many new versions costs
// one wait, and an index that is down one request, not one per version.
func TestLaggingAndDownIndexCostOnce(t *testing.T) {
	f := &fakeIndex{}
	f.add("example.com/m", "v1.0.0", time.Now().Add(-time.Hour))
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	x := New(Options{URL: srv.URL, Wait: 300 * time.Millisecond})
	start := time.Now()
	for i := 0; i < 5; i++ {
		if _, _, err := x.Lookup(context.Background(), "example.com/new", "v1.0."+strconv.Itoa(i), time.Now()); !errors.Is(err, ErrUnknown) {
			t.Fatalf("lagging index: %v", err)
		}
	}
	if d := time.Since(start); d > 2*300*time.Millisecond {
		t.Errorf("5 lookups on a lagging index took %v, want about one wait", d)
	}
	f.mu.Lock()
	f.status, f.asked = 503, nil
	f.mu.Unlock()
	y := New(Options{URL: srv.URL})
	for i := 0; i < 5; i++ {
		if _, _, err := y.Lookup(context.Background(), "example.com/m", "v1.0.0", time.Now()); !errors.Is(err, ErrUnknown) {
			t.Fatalf("index down: %v", err)
		}
	}
	if len(f.asked) != 1 {
		t.Errorf("index down: asked %d times, want 1", len(f.asked))
	}
}

// A lookup during a long read (the whole window, at start) waits only its
// own bound, not for the read to end; the read goes on.
func TestLookupDoesNotWaitForLongRead(t *testing.T) {
	f := &fakeIndex{delay: 100 * time.Millisecond}
	for i := 0; i < 20; i++ {
		f.add("example.com/m", "v1.0."+strconv.Itoa(i), time.Now().Add(-time.Duration(30-i)*time.Minute))
	}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	x := New(Options{URL: srv.URL, Limit: 1, Wait: 200 * time.Millisecond})
	x.Start(t.Context(), time.Hour)
	start := time.Now()
	if _, _, err := x.Lookup(context.Background(), "example.com/other", "v1.0.0", time.Now()); !errors.Is(err, ErrUnknown) {
		t.Errorf("during the read: %v, want ErrUnknown", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("lookup took %v, want about its 200ms bound (the read takes 2s)", d)
	}
	// The read went on: the last version is listed in the end.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, _, ok := x.lookup("example.com/m", "v1.0.19", time.Time{}); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the background read did not finish")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
