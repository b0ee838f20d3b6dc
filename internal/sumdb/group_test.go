package sumdb

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func testHash(s string) string { return "h1:" + strings.Repeat(s, 43)[:43] + "=" }

// Adds that arrive while another is being committed are committed as one
// batch: one sync of each file and one signed tree head, instead of one
// each. Each Add returns only once its record is in the signed tree, the
// first hashes of a version win within a batch too, and the log reopens
// intact (its tree is checked against the records at open).
func TestLogGroupCommit(t *testing.T) {
	dir := t.TempDir()
	skey, _, err := LoadOrCreateKey(filepath.Join(dir, "key"), "sum.test.example")
	if err != nil {
		t.Fatal(err)
	}
	l, _, err := OpenLog(filepath.Join(dir, "log"), skey)
	if err != nil {
		t.Fatal(err)
	}
	// Hold the log as a commit in progress would, so that every Add queues.
	l.mu.Lock()
	const n = 64
	var wg sync.WaitGroup
	results := make([]string, n+1)
	for i := range n + 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path, zh := fmt.Sprintf("example.com/m%d", i), testHash("a")
			if i == n { // a second Add of m0, with other hashes
				path, zh = "example.com/m0", testHash("z")
				for l.queuedAdds() < n {
					time.Sleep(time.Millisecond)
				}
			}
			z, _, err := l.Add(path, "v1.0.0", zh, testHash("b"))
			if err != nil {
				t.Error(err)
			}
			if _, _, ok := l.Lookup(path, "v1.0.0"); !ok {
				t.Errorf("Add of %s returned before it was recorded", path)
			}
			results[i] = z
		}()
	}
	for l.queuedAdds() < n+1 {
		time.Sleep(time.Millisecond)
	}
	l.mu.Unlock()
	wg.Wait()
	if results[n] != testHash("a") {
		t.Errorf("second Add of m0 got %s, want the first hashes", results[n])
	}
	if c := l.group.commits; c > 2 {
		t.Errorf("%d commits (signed tree heads) for %d concurrent Adds, want them grouped", c, n)
	}
	if l.Size() != n {
		t.Fatalf("size %d, want %d", l.Size(), n)
	}
	l.Close()
	l, dropped, err := OpenLog(filepath.Join(dir, "log"), skey)
	if err != nil || dropped != 0 || l.Size() != n {
		t.Fatalf("reopen: size %d, dropped %d, %v", l.Size(), dropped, err)
	}
	defer l.Close()
	for i := range n {
		if z, m, ok := l.Lookup(fmt.Sprintf("example.com/m%d", i), "v1.0.0"); !ok || z != testHash("a") || m != testHash("b") {
			t.Errorf("m%d after reopen: %s %s %v", i, z, m, ok)
		}
	}
}

func (l *Log) queuedAdds() int64 {
	l.group.mu.Lock()
	defer l.group.mu.Unlock()
	return l.group.queued
}
