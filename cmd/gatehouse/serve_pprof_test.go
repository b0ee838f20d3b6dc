package main

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
)

// wideListener is a loopback listener that reports a non-loopback address,
// to see the warning without listening beyond loopback.
type wideListener struct{ net.Listener }

func (wideListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4zero, Port: 6060} }

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A pprof listener beyond loopback is allowed, with a warning naming the key.
func TestPprofListenWarnsBeyondLoopback(t *testing.T) {
	for _, tc := range []struct {
		wide bool
	}{{false}, {true}} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		var l net.Listener = ln
		if tc.wide {
			l = wideListener{ln}
		}
		var out lockedBuffer
		stop := servePprof(context.Background(), l, slog.New(slog.NewTextHandler(&out, nil)))
		stop()
		warned := strings.Contains(out.String(), "pprof listener has no authentication") && strings.Contains(out.String(), "pprof_listen=0.0.0.0:6060")
		if warned != tc.wide {
			t.Errorf("wide %v: warned %v, log %q", tc.wide, warned, out.String())
		}
	}
}

func TestPprofListenBadAddress(t *testing.T) {
	code, _, errOut := runCmd(t, nil, "serve", "--pprof-listen", "localhost")
	if code != 2 || !strings.Contains(errOut, "pprof-listen") {
		t.Errorf("exit %d, %q", code, errOut)
	}
}
