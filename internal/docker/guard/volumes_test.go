package guard

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
)

// A create that mounts many named volumes costs at most two volume lookups
// (one inspect, then one list), and one above the cap costs none. dockerd
// does not say how often it was asked, so a counting HTTP server on a unix
// socket stands in for it; the integration tests run the real one.
func TestVolumeLookupsBatched(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	inspects, lists := 0, 0
	daemon := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r.URL.Path == "/volumes":
			lists++
			json.NewEncoder(w).Encode(map[string]any{"Volumes": []map[string]any{
				{"Name": "plain", "Driver": "local"},
				{"Name": "hostroot", "Driver": "local", "Options": map[string]string{"o": "bind", "device": "/"}},
			}})
		case strings.HasPrefix(r.URL.Path, "/volumes/"):
			inspects++
			http.NotFound(w, r)
		default:
			w.WriteHeader(http.StatusCreated)
		}
	})}
	go daemon.Serve(ln)
	t.Cleanup(func() { daemon.Close() })

	uid := os.Getuid()
	ci, _ := rules.Preset("ci")
	g, err := New(Options{Socket: sock, Audit: &recorder{}, Clients: []Client{{UID: &uid, Profile: ci}}})
	if err != nil {
		t.Fatal(err)
	}
	c := serveUnix(t, g)
	create := func(names ...string) (int, string, int, int) {
		t.Helper()
		var binds []string
		for i, n := range names {
			binds = append(binds, fmt.Sprintf("%q", fmt.Sprintf("%s:/v%d", n, i)))
		}
		body := `{"Image":"bb","HostConfig":{"NetworkMode":"none","Binds":[` + strings.Join(binds, ",") + `]}}`
		mu.Lock()
		inspects, lists = 0, 0
		mu.Unlock()
		req, _ := http.NewRequest("POST", "http://docker/v1.41/containers/create", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var msg struct{ Message string }
		json.NewDecoder(resp.Body).Decode(&msg)
		mu.Lock()
		defer mu.Unlock()
		return resp.StatusCode, msg.Message, inspects, lists
	}
	many := func(n int) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, fmt.Sprintf("vol%d", i))
		}
		return out
	}
	if code, msg, i, l := create(many(100)...); code != 201 || i+l > 2 {
		t.Errorf("100 volumes: %d %q, %d inspects and %d lists; want 201 with at most 2 lookups", code, msg, i, l)
	}
	if code, msg, i, l := create(many(101)...); code != 403 || !strings.Contains(msg, "(rule volume-limit)") || i+l != 0 {
		t.Errorf("101 volumes: %d %q, %d inspects and %d lists; want a volume-limit refusal with no lookup", code, msg, i, l)
	}
	// Answers from the list are checked like inspected ones.
	if code, msg, _, _ := create("vol1", "plain", "hostroot"); code != 403 || !strings.Contains(msg, "(rule no-volume-driver)") {
		t.Errorf("a bind-option volume found by the list: %d %q", code, msg)
	}
	if code, msg, i, l := create("hostroot", "hostroot", "hostroot"); code != 201 || i != 1 || l != 0 {
		// The fake's inspect says "no such volume" for every name: one
		// inspect answers all three mentions.
		t.Errorf("one volume three times: %d %q, %d inspects and %d lists", code, msg, i, l)
	}
}
