package direct_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

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
