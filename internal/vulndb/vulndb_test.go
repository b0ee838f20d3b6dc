package vulndb

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ids(vs []*Vuln) string {
	var s []string
	for _, v := range vs {
		s = append(s, v.ID+":"+v.Severity.String())
	}
	return strings.Join(s, ",")
}

func TestAffecting(t *testing.T) {
	db, err := Open("testdata/db")
	if err != nil {
		t.Fatal(err)
	}
	if db.Len() != 3 {
		t.Errorf("Len = %d, want 3", db.Len())
	}
	tests := []struct{ mod, version, want string }{
		{"example.com/lib", "v0.9.0", "GO-2099-0002:low"},
		{"example.com/lib", "v1.0.0", "GO-2099-0002:low"},
		{"example.com/lib", "v1.0.1", ""},
		{"example.com/lib", "v1.1.9", ""},
		{"example.com/lib", "v1.2.0", "GO-2099-0001:critical"},
		{"example.com/lib", "v1.2.1", ""},
		{"example.com/lib", "v1.3.0", ""},
		{"example.com/lib", "v1.4.0-rc.1", ""},
		{"example.com/lib", "v1.4.0", "GO-2099-0001:critical"},
		{"example.com/lib", "v1.4.9", "GO-2099-0001:critical"},
		{"example.com/lib", "v1.5.0", ""},
		{"example.com/other", "v0.0.0-20200101000000-abcdefabcdef", "GO-2099-0003:high"},
		{"example.com/other", "v9.0.0+incompatible", "GO-2099-0003:high"},
		{"example.com/none", "v1.0.0", ""},
	}
	for _, tt := range tests {
		if got := ids(db.Affecting(tt.mod, tt.version)); got != tt.want {
			t.Errorf("Affecting(%s, %s) = %q, want %q", tt.mod, tt.version, got, tt.want)
		}
	}
	var nilDB *DB
	if nilDB.Affecting("example.com/lib", "v1.2.0") != nil {
		t.Error("nil DB reports vulnerabilities")
	}
}

// A broken or half-copied database is refused whole, with a one-line error.
func TestOpenErrors(t *testing.T) {
	write := func(files map[string]string) string {
		dir := t.TempDir()
		for name, content := range files {
			p := filepath.Join(dir, name)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(content), 0o644)
		}
		return dir
	}
	good := `{"id":"GO-1","affected":[{"package":{"name":"m"}}]}`
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no index", map[string]string{}, "index/modules.json"},
		{"bad index", map[string]string{"index/modules.json": "{"}, "modules.json"},
		{"missing entry", map[string]string{"index/modules.json": `[{"path":"m","vulns":[{"id":"GO-1"}]}]`}, "GO-1.json"},
		{"path traversal id", map[string]string{"index/modules.json": `[{"path":"m","vulns":[{"id":"../../etc/passwd"}]}]`}, "invalid id"},
		{"wrong id inside", map[string]string{"index/modules.json": `[{"path":"m","vulns":[{"id":"GO-1"}]}]`, "ID/GO-1.json": `{"id":"GO-2"}`}, "holds entry"},
		{"bad version", map[string]string{"index/modules.json": `[{"path":"m","vulns":[{"id":"GO-1"}]}]`,
			"ID/GO-1.json": `{"id":"GO-1","affected":[{"package":{"name":"m"},"ranges":[{"type":"SEMVER","events":[{"introduced":"x"}]}]}]}`}, "not a semantic version"},
	}
	for _, tt := range tests {
		_, err := Open(write(tt.files))
		if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: err = %v, want one line containing %q", tt.name, err, tt.want)
		}
	}
	if _, err := Open(write(map[string]string{"index/modules.json": `[{"path":"m","vulns":[{"id":"GO-1"}]}]`, "ID/GO-1.json": good})); err != nil {
		t.Errorf("good db: %v", err)
	}
}

func TestSeverity(t *testing.T) {
	for in, want := range map[string]Severity{"LOW": Low, "moderate": Medium, "Medium": Medium, "HIGH": High, "critical": Critical, "": Unknown, "bad": Unknown} {
		if got := ParseSeverity(in); got != want {
			t.Errorf("ParseSeverity(%q) = %v, want %v", in, got, want)
		}
	}
	if got := severityFromScore("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"); got != Critical {
		t.Errorf("9.8 vector rated %v", got)
	}
	if got := severityFromScore("CVSS_V3", "CVSS:3.1/garbage"); got != Unknown {
		t.Errorf("garbage vector rated %v", got)
	}
}
