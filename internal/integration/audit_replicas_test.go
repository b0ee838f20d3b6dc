package integration

import (
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
)

// Two serve replicas, each with its own --replica-id and audit file: audit
// verify checks both chains together and reports each; an edited line in
// one replica's file fails it, naming the file and line.
func TestAuditVerifyTwoReplicas(t *testing.T) {
	up := testproxy.New(t)
	dir := t.TempDir()
	logs := map[string]string{"replica-a": filepath.Join(dir, "a", "audit.log"), "replica-b": filepath.Join(dir, "b", "audit.log")}
	for id, file := range logs {
		os.MkdirAll(filepath.Dir(file), 0o700)
		p := serveTestUpstream(t, up, "--replica-id", id, "--audit-file", file)
		for _, path := range []string{"/example.com/hello/@v/list", "/example.com/hello/@v/v1.0.0.info", "/example.com/hello/@v/v1.0.0.mod"} {
			resp, err := http.Get(p.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("%s via %s: %s", path, id, resp.Status)
			}
		}
		p.stop(t)
		if b, _ := os.ReadFile(file); strings.Count(string(b), `"replica":"`+id+`"`) != 3 {
			t.Fatalf("%s: want 3 records naming the replica:\n%s", file, b)
		}
	}

	out, err := exec.Command(gatehouseBin, "audit", "verify", logs["replica-a"], logs["replica-b"]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), `ok: replica "replica-a": 3 records in 1 files, seq 1..3`) ||
		!strings.Contains(string(out), `ok: replica "replica-b": 3 records in 1 files, seq 1..3`) {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}

	b, _ := os.ReadFile(logs["replica-b"])
	lines := strings.SplitAfter(string(b), "\n")
	lines[1] = strings.Replace(lines[1], `"decision":"allow"`, `"decision":"deny"`, 1)
	os.WriteFile(logs["replica-b"], []byte(strings.Join(lines, "")), 0o600)
	out, err = exec.Command(gatehouseBin, "audit", "verify", logs["replica-a"], logs["replica-b"]).CombinedOutput()
	if err == nil || !strings.Contains(string(out), logs["replica-b"]+":2: hash mismatch") ||
		!strings.Contains(string(out), `ok: replica "replica-a"`) {
		t.Fatalf("audit verify of an edited replica file: %v\n%s", err, out)
	}
}
