package ratelimit

import (
	"testing"
	"time"
)

func TestLimiterPerKey(t *testing.T) {
	now := time.Unix(1000, 0)
	l := New(2, 3)
	l.now = func() time.Time { return now }
	for i := 0; i < 3; i++ {
		if ok, _ := l.Allow("ci"); !ok {
			t.Fatalf("request %d within the burst refused", i)
		}
	}
	ok, wait := l.Allow("ci")
	if ok || wait <= 0 || wait > 500*time.Millisecond {
		t.Fatalf("4th request: ok=%v wait=%v, want refused with a wait of at most 0.5s", ok, wait)
	}
	// Another identity is not affected by the first one's burst.
	if ok, _ := l.Allow("dev"); !ok {
		t.Fatal("another key refused")
	}
	now = now.Add(wait)
	if ok, _ := l.Allow("ci"); !ok {
		t.Fatal("refused after waiting the advised time")
	}
	// Idle buckets are forgotten.
	now = now.Add(time.Hour)
	l.Allow("x")
	if n := len(l.buckets); n != 1 {
		t.Errorf("%d buckets after an idle hour, want 1", n)
	}
}

func TestNoLimit(t *testing.T) {
	l := New(0, 0)
	for i := 0; i < 1000; i++ {
		if ok, _ := l.Allow("a"); !ok {
			t.Fatal("refused with no limit")
		}
	}
}
