package upstream

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/retry"
)

// flaky answers its first fails requests with fail (a status, or reset:
// the connection is torn down with a TCP reset, either before any answer
// or in the middle of the body), and then serves body with 200.
type flaky struct {
	*httptest.Server
	hits atomic.Int32
}

const (
	resetBeforeAnswer = -1
	resetInBody       = -2
)

func newFlaky(t *testing.T, fails int32, fail int, body string) *flaky {
	f := &flaky{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := f.hits.Add(1)
		if n > fails {
			io.WriteString(w, body)
			return
		}
		switch fail {
		case resetBeforeAnswer, resetInBody:
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			if fail == resetInBody {
				buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + body[:len(body)/2])
				buf.Flush()
			}
			conn.(*net.TCPConn).SetLinger(0) // close with RST
			conn.Close()
		default:
			w.WriteHeader(fail)
			io.WriteString(w, "upstream says no\n")
		}
	}))
	t.Cleanup(f.Close)
	return f
}

// fast retries quickly, so that the tests take milliseconds.
var fast = retry.Policy{Attempts: 3, Base: 5 * time.Millisecond, Max: 20 * time.Millisecond}

func newTestProxy(t *testing.T, base string, log *slog.Logger) *Proxy {
	t.Helper()
	p, err := NewProxy(base, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.Retry, p.Logger = fast, log
	return p
}

// Every idempotent fetch is tried again after a 5xx or a broken
// connection, and a second failure within the attempts does not matter.
func TestRetryTransientFailures(t *testing.T) {
	const mod = "module example.com/m\n"
	fetches := map[string]func(context.Context, *Proxy) (string, error){
		"mod": func(ctx context.Context, p *Proxy) (string, error) {
			b, err := p.GoMod(ctx, "example.com/m", "v1.0.0")
			return string(b), err
		},
		"info": func(ctx context.Context, p *Proxy) (string, error) {
			b, err := p.Info(ctx, "example.com/m", "v1.0.0")
			return string(b), err
		},
		"latest": func(ctx context.Context, p *Proxy) (string, error) {
			b, err := p.Latest(ctx, "example.com/m")
			return string(b), err
		},
		"list": func(ctx context.Context, p *Proxy) (string, error) {
			l, err := p.List(ctx, "example.com/m")
			return strings.Join(l, " ") + "\n", err
		},
		"zip": func(ctx context.Context, p *Proxy) (string, error) {
			rc, err := p.Zip(ctx, "example.com/m", "v1.0.0")
			if err != nil {
				return "", err
			}
			defer rc.Close()
			b, err := io.ReadAll(rc)
			return string(b), err
		},
	}
	fails := map[string]int{"502": 502, "503": 503, "500": 500, "reset before answer": resetBeforeAnswer, "reset in body": resetInBody}
	for kind, fetch := range fetches {
		for name, fail := range fails {
			if kind == "zip" && fail == resetInBody {
				continue // a zip's body is the caller's to read; modcache retries it
			}
			t.Run(kind+"/"+name, func(t *testing.T) {
				body := mod
				if kind == "list" {
					body = "v1.0.0\n"
				}
				f := newFlaky(t, 2, fail, body)
				got, err := fetch(context.Background(), newTestProxy(t, f.URL, slog.New(slog.DiscardHandler)))
				if err != nil || got != body {
					t.Fatalf("after 2 failures (%s): %q, %v; want %q", name, got, err, body)
				}
				if n := f.hits.Load(); n != 3 {
					t.Errorf("%d requests, want 3", n)
				}
			})
		}
	}
}

// A 4xx is an answer, not a failure: it is not asked again.
func TestRetryNotOn4xx(t *testing.T) {
	for _, status := range []int{404, 410, 403, 401, 429, 400} {
		f := newFlaky(t, 100, status, "")
		_, err := newTestProxy(t, f.URL, slog.New(slog.DiscardHandler)).GoMod(context.Background(), "example.com/m", "v1.0.0")
		var se *StatusError
		if !errors.As(err, &se) || se.Status != status {
			t.Errorf("%d: err %v", status, err)
		}
		if n := f.hits.Load(); n != 1 {
			t.Errorf("%d was asked %d times, want once", status, n)
		}
	}
}

// Attempts are bounded, and no try starts that the deadline would cut.
func TestRetryBoundedAndDeadline(t *testing.T) {
	f := newFlaky(t, 100, 502, "")
	p := newTestProxy(t, f.URL, slog.New(slog.DiscardHandler))
	if _, err := p.Info(context.Background(), "example.com/m", "v1.0.0"); err == nil {
		t.Fatal("an upstream that always fails: no error")
	}
	if n := f.hits.Load(); n != 3 {
		t.Errorf("always 502: %d requests, want 3", n)
	}

	f = newFlaky(t, 100, 503, "")
	p = newTestProxy(t, f.URL, slog.New(slog.DiscardHandler))
	p.Retry = retry.Policy{Attempts: 5, Base: 400 * time.Millisecond, Max: time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), 600*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := p.Info(ctx, "example.com/m", "v1.0.0")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 503 {
		t.Errorf("err %v, want the upstream's 503", err)
	}
	if d := time.Since(start); d > 700*time.Millisecond {
		t.Errorf("took %v with a 600ms deadline", d)
	}
	// Waits of 0.3–0.5 s and then 0.6–1 s: the third try would start after the deadline.
	if n := f.hits.Load(); n > 2 {
		t.Errorf("%d requests within 600ms, want at most 2", n)
	}
}

// The log says which upstream failed, without the credentials in its URL,
// and so does the error of a fetch that failed for good.
func TestRetryLogNamesUpstreamWithoutCredentials(t *testing.T) {
	f := newFlaky(t, 100, 502, "")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	base := strings.Replace(f.URL, "http://", "http://tok-user-4f2a:s3cret-pw-9b@", 1)
	_, err := newTestProxy(t, base, log).GoMod(context.Background(), "example.com/m", "v1.0.0")
	if err == nil {
		t.Fatal("no error")
	}
	refused := newTestProxy(t, strings.Replace(base, f.Listener.Addr().String(), "127.0.0.1:1", 1), log)
	_, err2 := refused.GoMod(context.Background(), "example.com/m", "v1.0.0")
	if err2 == nil {
		t.Fatal("no error from a closed port")
	}
	out := logs.String() + err.Error() + err2.Error()
	for _, secret := range []string{"tok-user-4f2a", "s3cret-pw-9b"} {
		if strings.Contains(out, secret) {
			t.Errorf("credential %q in the log or error:\n%s", secret, out)
		}
	}
	for _, want := range []string{"upstream=" + f.URL + " ", "upstream=http://127.0.0.1:1 ", "502 Bad Gateway", "connection refused"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
	if !strings.Contains(err.Error(), f.URL+"/example.com/m/@v/v1.0.0.mod") {
		t.Errorf("error does not name the upstream URL: %v", err)
	}
}
