package direct_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/slots"
	"github.com/gatehouse-dev/gatehouse/internal/testutil"
	"github.com/gatehouse-dev/gatehouse/internal/upstream/direct"
)

// A VCS host that never answers holds a private fetch only until the
// timeout, and while it holds the only fetch slot, another fetch waits
// for the slot rather than starting a second child go command.
func TestFetchTimeoutAndSlots(t *testing.T) {
	testutil.RequireCommand(t, "go")
	// A proxy on loopback that accepts connections and never answers: the
	// stuck git host, as seen through the egress.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn // kept open, never answered
	defer func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			held = append(held, c)
			mu.Unlock()
		}
	}()
	hang, _ := url.Parse("http://" + ln.Addr().String())
	env := map[string]string{"PATH": os.Getenv("PATH")}
	s, err := direct.New(direct.Options{
		Private: "git.corp.test", Hosts: direct.Hosts{"git.corp.test"},
		TempDir: t.TempDir(), Timeout: 2 * time.Second, MaxFetches: 1,
		Getenv:      func(k string) string { return env[k] },
		ParentProxy: http.ProxyURL(hang),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	start := time.Now()
	first := make(chan error, 1)
	go func() {
		_, err := s.List(context.Background(), "git.corp.test/lib")
		first <- err
	}()
	time.Sleep(300 * time.Millisecond) // the first fetch holds the slot
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	_, err = s.List(ctx, "git.corp.test/other")
	cancel()
	if err == nil || !strings.Contains(err.Error(), "waiting for a private fetch slot") {
		t.Errorf("second fetch with the only slot taken: %v, want it to wait for the slot", err)
	}
	err = <-first
	if err == nil || !strings.Contains(err.Error(), "ran out of time") {
		t.Errorf("fetch from a host that never answers: %v, want a timeout", err)
	}
	// 2s timeout, plus the 5s the child may take to die, plus slack.
	if d := time.Since(start); d > 12*time.Second {
		t.Errorf("the stuck fetch took %v; the timeout is 2s", d)
	}
}

type ownerKey struct{}

// One identity's fetches do not hold every child go command: it runs at
// most PerOwner at once and may queue QueuePerOwner more (beyond, a 429
// error), while another identity's fetch starts at once. The git hosts
// never answer; which ones were asked for shows whose fetch started.
func TestFetchSlotsSharedByOwner(t *testing.T) {
	testutil.RequireCommand(t, "go")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var held []net.Conn
	asked := map[string]int{} // CONNECT host → count
	defer func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range held {
			c.Close()
		}
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				line, _ := bufio.NewReader(c).ReadString('\n') // CONNECT host:443 HTTP/1.1
				mu.Lock()
				defer mu.Unlock()
				if f := strings.Fields(line); len(f) > 1 {
					asked[f[1]]++
				}
				held = append(held, c)
			}()
		}
	}()
	hostAsked := func(host string) bool {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			mu.Lock()
			n := asked[host+":443"]
			mu.Unlock()
			if n > 0 {
				return true
			}
		}
		return false
	}
	hang, _ := url.Parse("http://" + ln.Addr().String())
	env := map[string]string{"PATH": os.Getenv("PATH")}
	s, err := direct.New(direct.Options{
		Private: "*.corp.test", Hosts: direct.Hosts{"*.corp.test"},
		TempDir: t.TempDir(), Timeout: 20 * time.Second, MaxFetches: 2, PerOwner: 1, QueuePerOwner: 1,
		Owner:       func(ctx context.Context) string { o, _ := ctx.Value(ownerKey{}).(string); return o },
		Getenv:      func(k string) string { return env[k] },
		ParentProxy: http.ProxyURL(hang),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mallory := context.WithValue(ctx, ownerKey{}, "mallory")
	done := make(chan error, 3)
	go func() { _, err := s.List(mallory, "a.corp.test/one"); done <- err }()
	if !hostAsked("a.corp.test") {
		t.Fatal("mallory's first fetch did not start")
	}
	go func() { _, err := s.List(mallory, "b.corp.test/two"); done <- err }()
	time.Sleep(300 * time.Millisecond) // queued behind mallory's own
	_, err = s.List(mallory, "c.corp.test/three")
	var busy *slots.BusyError
	if !errors.As(err, &busy) || busy.HTTPStatus() != 429 {
		t.Errorf("mallory's third fetch: %v, want a BusyError (429)", err)
	}
	alice := context.WithValue(ctx, ownerKey{}, "alice")
	go func() { _, err := s.List(alice, "d.corp.test/mine"); done <- err }()
	if !hostAsked("d.corp.test") {
		t.Error("alice's fetch did not start while mallory's second waited")
	}
	mu.Lock()
	if asked["b.corp.test:443"] > 0 {
		t.Error("mallory ran two fetches at once")
	}
	mu.Unlock()
	cancel()
	for range 3 {
		<-done
	}
}
