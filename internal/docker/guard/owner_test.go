package guard

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/audit"
	"github.com/gatehouse-dev/gatehouse/internal/docker/api"
	"github.com/gatehouse-dev/gatehouse/internal/docker/rules"
)

func TestSetOwnerLabel(t *testing.T) {
	for _, tc := range []struct {
		body, want, rule string
	}{
		{`{"Image":"bb"}`, `{"Image":"bb","Labels":{"dev.gatehouse.owner":"a"}}`, ""},
		{``, `{"Labels":{"dev.gatehouse.owner":"a"}}`, ""},
		{`{"Image":"bb","labels":{"x":"1"}}`, `{"Image":"bb","Labels":{"dev.gatehouse.owner":"a","x":"1"}}`, ""},
		{`{"Labels":null,"N":1.50}`, `{"Labels":{"dev.gatehouse.owner":"a"},"N":1.50}`, ""},
		{`{"Labels":{"dev.gatehouse.owner":"b"}}`, "", "owner-label"},
		{`{"LABELS":{"Dev.Gatehouse.Owner":"b"}}`, "", "owner-label"},
		{`{"Labelſ":{"dev.gatehouse.owner ":"b"}}`, "", "owner-label"},
		{`{"Labels":{"a":"1"},"labels":{"b":"2"}}`, "", "strict-json"},
		{`{"Labels":{"a":1}}`, "", "strict-json"},
		{`{"Labels":{}} {"Labels":{"dev.gatehouse.owner":"b"}}`, "", "strict-json"},
		{`[]`, "", "strict-json"},
	} {
		got, err := setOwnerLabel([]byte(tc.body), "a")
		switch {
		case tc.rule != "":
			if err == nil || err.rule != tc.rule {
				t.Errorf("%s: got %s, %v; want rule %s", tc.body, got, err, tc.rule)
			}
		case err != nil || string(got) != tc.want:
			t.Errorf("%s: got %s, %v; want %s", tc.body, got, err, tc.want)
		}
	}
	// Without an owner (an unscoped client) the body is only checked.
	if got, err := setOwnerLabel([]byte(`{"labels":{"x":"1"}}`), ""); err != nil || string(got) != `{"labels":{"x":"1"}}` {
		t.Errorf("unscoped: %s %v", got, err)
	}
}

func TestAddLabelFilter(t *testing.T) {
	const own = "dev.gatehouse.owner=a"
	for _, tc := range []struct {
		filters string
		want    map[string]map[string]bool
	}{
		{"", map[string]map[string]bool{"label": {own: true}}},
		{`{"name":{"web":true}}`, map[string]map[string]bool{"name": {"web": true}, "label": {own: true}}},
		{`{"label":{"dev.gatehouse.owner=b":true}}`, map[string]map[string]bool{"label": {"dev.gatehouse.owner=b": true, own: true}}},
		{`{"label":["x=1"],"status":["running"]}`, map[string]map[string]bool{"label": {"x=1": true, own: true}, "status": {"running": true}}},
	} {
		q := url.Values{"all": {"1"}}
		if tc.filters != "" {
			q.Set("filters", tc.filters)
		}
		out, err := addLabelFilter(q, own)
		if err != nil {
			t.Fatalf("%s: %v", tc.filters, err)
		}
		var got map[string]map[string]bool
		if err := json.Unmarshal([]byte(out.Get("filters")), &got); err != nil || !reflect.DeepEqual(got, tc.want) || out.Get("all") != "1" {
			t.Errorf("%s: got %s (%v), want %v", tc.filters, out.Encode(), err, tc.want)
		}
	}
	for _, bad := range []url.Values{{"filters": {"{"}}, {"filters": {"{}", "{}"}}, {"filters": {`{"label":"x"}`}}} {
		if _, err := addLabelFilter(bad, own); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

func TestObjectRef(t *testing.T) {
	for _, tc := range []struct {
		method, path, kind, ref, suffix string
	}{
		{"GET", "/containers/abc/json", "container", "abc", "/json"},
		{"DELETE", "/containers/web", "container", "web", ""},
		{"GET", "/containers/abc/attach/ws", "container", "abc", "/attach/ws"},
		{"POST", "/exec/0123/start", "exec", "0123", "/start"},
		{"GET", "/networks/n1", "network", "n1", ""},
		{"POST", "/networks/n1/connect", "network", "n1", "/connect"},
		{"DELETE", "/volumes/v1", "volume", "v1", ""},
		{"GET", "/containers/json", "", "", ""},
		{"POST", "/containers/create", "", "", ""},
		{"GET", "/volumes", "", "", ""},
		{"GET", "/images/abc/json", "", "", ""},
	} {
		ep, err := api.Lookup(tc.method, tc.path)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		kind, ref, suffix, ok := objectRef(ep, tc.path)
		if kind != tc.kind || ref != tc.ref || suffix != tc.suffix || ok != (tc.kind != "") {
			t.Errorf("%s %s: %q %q %q %v", tc.method, tc.path, kind, ref, suffix, ok)
		}
	}
}

// An interim 100 Continue is not the status of the answer.
func TestCountingWriterFinalStatus(t *testing.T) {
	for _, tc := range []struct {
		codes []int
		want  int
	}{
		{[]int{100, 201}, 201},
		{[]int{103, 201}, 201},
		{[]int{103, 100, 404}, 404},
		{[]int{101}, 101},
		{[]int{200, 500}, 200},
	} {
		cw := &countingWriter{ResponseWriter: httptest.NewRecorder()}
		for _, c := range tc.codes {
			cw.WriteHeader(c)
		}
		if cw.status != tc.want {
			t.Errorf("%v: status %d, want %d", tc.codes, cw.status, tc.want)
		}
	}
	cw := &countingWriter{ResponseWriter: httptest.NewRecorder()}
	cw.WriteHeader(http.StatusContinue)
	cw.Write([]byte("x"))
	if cw.status != 200 {
		t.Errorf("100 then a body: %d", cw.status)
	}
}

func TestEndpointGroup(t *testing.T) {
	for path, want := range map[string]string{
		"/containers/{id}/json": "containers", "/exec/{id}/start": "exec", "/_ping": "system", "/commit": "images",
		"/services/{id}": "swarm", "/volumes": "volumes", "/build": "build",
	} {
		if got := endpointGroup(api.Endpoint{Path: path}); got != want {
			t.Errorf("%s: %s, want %s", path, got, want)
		}
	}
	for _, e := range api.Endpoints() {
		if g := endpointGroup(e); strings.ContainsAny(g, "/{}") {
			t.Errorf("%s: group %q", e, g)
		}
	}
	if ruleLabel("no-privileged") != "no-privileged" || ruleLabel("ci: GET /x") != "other" {
		t.Error("ruleLabel")
	}
}

func TestAuditCreate(t *testing.T) {
	a := auditCreate([]byte(`{"Image":"bb","User":"0","HostConfig":{"Privileged":true,"CapAdd":"SYS_ADMIN","Binds":["/:/h:ro"],` +
		`"Mounts":[{"Type":"volume","Source":"v","Target":"/v","ReadOnly":true}],"NetworkMode":"host","PidMode":"host",` +
		`"LogConfig":{"Type":"syslog","Config":{"syslog-address":"tcp://127.0.0.1:1"}},"Devices":[{"PathOnHost":"/dev/sda"}]},` +
		`"NetworkingConfig":{"EndpointsConfig":{"n1":{}}}}`))
	want := &audit.DockerCreate{Image: "bb", User: "0", Privileged: true, CapAdd: []string{"SYS_ADMIN"}, Binds: []string{"/:/h:ro"},
		Mounts: []string{"volume:v:/v:ro"}, NetworkMode: "host", Networks: []string{"n1"}, Namespaces: []string{"pid=host"},
		LogDriver: "syslog", LogOptions: []string{"syslog-address=tcp://127.0.0.1:1"}, Devices: []string{"/dev/sda"}}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("got  %+v\nwant %+v", a, want)
	}
	// The top-level HostConfig fields dockerd 20.10 still reads.
	if a := auditCreate([]byte(`{"Image":"bb","Binds":["/:/h"],"Privileged":true}`)); !a.Privileged || len(a.Binds) != 1 {
		t.Errorf("legacy fields: %+v", a)
	}
	if a := auditCreate([]byte(`{"HostConfig":{"Binds":"x"}}`)); a.Unparsed == "" {
		t.Errorf("bad body: %+v", a)
	}
}

// Whatever body comes in, dockerd reads the owner label gatehouse set on
// what goes out, and no other value of it.
func FuzzSetOwnerLabel(f *testing.F) {
	for _, s := range []string{`{"Image":"bb"}`, `{"labels":{"x":"1"}}`, `{"Labelſ":{}}`, `{"Labels":null}`, `{"LABELS":{"dev.gatehouse.owner":"b"}}`, ``, `{"Labels":{"a":"1"},"Labels":{"dev.gatehouse.owner":"b"}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := setOwnerLabel(body, "a")
		if err != nil {
			return
		}
		var got struct{ Labels map[string]string }
		if e := json.Unmarshal(out, &got); e != nil {
			t.Fatalf("%q became %q, which does not decode: %v", body, out, e)
		}
		if got.Labels[OwnerLabel] != "a" {
			t.Fatalf("%q became %q: owner %q", body, out, got.Labels[OwnerLabel])
		}
		for k := range got.Labels {
			if k != OwnerLabel && strings.EqualFold(strings.TrimSpace(k), OwnerLabel) {
				t.Fatalf("%q became %q: label %q", body, out, k)
			}
		}
	})
}

// An id prefix that dockerd finds ambiguous (400) is answered as missing
// on a per-object path, and refused in a body, for a scoped client: passed
// on, it would reach another client's object once the client removed its
// own. dockerd's ids are random, so a fake daemon answers 400 here.
func TestAmbiguousReference(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	forwarded := 0
	daemon := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" && (strings.HasPrefix(r.URL.Path, "/containers/ab") || strings.HasPrefix(r.URL.Path, "/networks/ab")) {
			w.WriteHeader(http.StatusBadRequest)
			io.WriteString(w, `{"message":"multiple IDs found with provided prefix: ab"}`)
			return
		}
		forwarded++
		w.WriteHeader(http.StatusCreated)
	})}
	go daemon.Serve(ln)
	t.Cleanup(func() { daemon.Close() })
	uid := os.Getuid()
	prof, _ := rules.Compile("team", []string{"ci"}, []string{"POST /networks/{id}/connect"}, false)
	prof.OwnerScoped = true
	g, err := New(Options{Socket: sock, Audit: &recorder{}, Clients: []Client{{UID: &uid, Profile: prof}}})
	if err != nil {
		t.Fatal(err)
	}
	c := serveUnix(t, g)
	if code, msg := do(t, c, "GET", "/v1.41/containers/ab/json"); code != 404 || msg != "No such container: ab" {
		t.Errorf("per-object: %d %q", code, msg)
	}
	body := `{"Image":"bb","HostConfig":{"NetworkMode":"ab"}}`
	req, _ := http.NewRequest("POST", "http://docker/v1.41/containers/create", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "(rule owner-scope)") || forwarded != 0 {
		t.Errorf("create on an ambiguous network: %d %s (%d forwarded)", resp.StatusCode, b, forwarded)
	}
}

// A named volume a scoped client's new container would mount is created
// first with the client's label; dockerd answers a create of a name that
// exists by then (another client made it in between) with that volume, as
// it is. The guard reads the answer: another's volume is refused, not
// mounted. The race cannot be timed against the real dockerd, so a fake
// daemon gives the answer dockerd gives when it is lost.
func TestVolumeCreatedMeanwhileByAnother(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "daemon.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	forwarded := 0
	daemon := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == "GET" && strings.HasPrefix(r.URL.Path, "/volumes"):
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, `{"message":"get data: no such volume"}`)
		case r.URL.Path == "/volumes/create":
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"Name":"data","Driver":"local","Labels":{"`+OwnerLabel+`":"someone-else"}}`)
		default:
			forwarded++
			w.WriteHeader(http.StatusCreated)
			io.WriteString(w, `{"Id":"x"}`)
		}
	})}
	go daemon.Serve(ln)
	t.Cleanup(func() { daemon.Close() })
	uid := os.Getuid()
	prof, _ := rules.Compile("team", []string{"ci"}, nil, false)
	prof.OwnerScoped = true
	g, err := New(Options{Socket: sock, Audit: &recorder{}, Clients: []Client{{UID: &uid, Profile: prof}}})
	if err != nil {
		t.Fatal(err)
	}
	c := serveUnix(t, g)
	body := `{"Image":"bb","HostConfig":{"NetworkMode":"none","Binds":["data:/d"]}}`
	req, _ := http.NewRequest("POST", "http://docker/v1.41/containers/create", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 403 || !strings.Contains(string(b), "(rule owner-scope)") || forwarded != 0 {
		t.Errorf("create mounting a volume another client created meanwhile: %d %s (%d forwarded)", resp.StatusCode, b, forwarded)
	}
}
