package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// fake answers every request with one status and counts requests.
type fake struct {
	*httptest.Server
	hits atomic.Int32
}

func newFake(t *testing.T, status int, body string) *fake {
	f := &fake{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.hits.Add(1)
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(f.Close)
	return f
}

func TestChainFallThrough(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name       string
		first      int
		sep        string
		wantErr    bool
		wantSecond int32
	}{
		{"comma 404 falls through", 404, ",", false, 1},
		{"comma 410 falls through", 410, ",", false, 1},
		{"comma 500 stops", 500, ",", true, 0},
		{"comma 403 stops", 403, ",", true, 0},
		{"pipe 500 falls through", 500, "|", false, 1},
		{"pipe 403 falls through", 403, "|", false, 1},
		{"comma 200 stops", 200, ",", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			first := newFake(t, tt.first, "module first\n")
			second := newFake(t, 200, "module second\n")
			c, err := ParseChain(first.URL+tt.sep+second.URL, nil)
			if err != nil {
				t.Fatal(err)
			}
			data, err := c.GoMod(ctx, "example.com/m", "v1.0.0")
			if (err != nil) != tt.wantErr {
				t.Fatalf("GoMod err = %v, wantErr %v", err, tt.wantErr)
			}
			if got := second.hits.Load(); got != tt.wantSecond {
				t.Errorf("second proxy hits = %d, want %d", got, tt.wantSecond)
			}
			if !tt.wantErr && tt.wantSecond == 1 && string(data) != "module second\n" {
				t.Errorf("data = %q", data)
			}
		})
	}
}

func TestChainAllNotFound(t *testing.T) {
	a, b := newFake(t, 404, "gone"), newFake(t, 410, "gone")
	c, _ := ParseChain(a.URL+","+b.URL, nil)
	_, err := c.Info(context.Background(), "example.com/m", "v1.0.0")
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
}

// A real failure is reported over a "not found" from a later entry.
func TestChainReportsRealFailure(t *testing.T) {
	a, b := newFake(t, 503, "down"), newFake(t, 404, "gone")
	c, _ := ParseChain(a.URL+"|"+b.URL, nil)
	_, err := c.Info(context.Background(), "example.com/m", "v1.0.0")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 503 || errors.Is(err, ErrNotFound) {
		t.Fatalf("err = %v, want the 503", err)
	}
}

func TestParseChainErrors(t *testing.T) {
	for _, s := range []string{"", ",", "http://a,,http://b", "ftp://x", "direct", "http://a|"} {
		if _, err := ParseChain(s, nil); err == nil {
			t.Errorf("ParseChain(%q) succeeded", s)
		}
	}
}

func TestSizeLimit(t *testing.T) {
	big := newFake(t, 200, strings.Repeat("x", maxInfoSize+1))
	p, _ := NewProxy(big.URL, nil)
	if _, err := p.Info(context.Background(), "example.com/m", "v1.0.0"); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("oversized .info: err = %v", err)
	}
}

func TestListParsesLines(t *testing.T) {
	f := newFake(t, 200, "v1.0.0\nv1.1.0 2024-01-01T00:00:00Z\n\n")
	p, _ := NewProxy(f.URL, nil)
	list, err := p.List(context.Background(), "example.com/m")
	if err != nil || strings.Join(list, " ") != "v1.0.0 v1.1.0" {
		t.Fatalf("List = %v, %v", list, err)
	}
}

// As with the go command, a redirect from https to plain http is refused:
// it would hand whoever sits on the path what https was chosen to protect.
// Redirects that stay on https (to another host too) are followed.
func TestRedirectDowngradeRefused(t *testing.T) {
	plain := newFake(t, 200, "module plain\n")
	secure := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/example.com/m/@v/v1.0.0.mod":
			http.Redirect(w, r, plain.URL+r.URL.Path, http.StatusFound)
		case "/example.com/m/@v/v1.1.0.mod":
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		default:
			io.WriteString(w, "module secure\n")
		}
	}))
	defer secure.Close()
	p, err := NewProxy(secure.URL, secure.Client())
	if err != nil {
		t.Fatal(err)
	}
	if data, err := p.GoMod(context.Background(), "example.com/m", "v1.0.0"); err == nil || !strings.Contains(err.Error(), "insecure") {
		t.Errorf("https→http redirect: %q, %v; want it refused", data, err)
	}
	if plain.hits.Load() != 0 {
		t.Error("the plain http server was contacted")
	}
	if data, err := p.GoMod(context.Background(), "example.com/m", "v1.1.0"); err != nil || string(data) != "module secure\n" {
		t.Errorf("https→https redirect: %q, %v", data, err)
	}
}
