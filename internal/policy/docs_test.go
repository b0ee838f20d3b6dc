package policy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The worked examples of docs/policy.md are valid policy files.
func TestDocExamplesParse(t *testing.T) {
	data, err := os.ReadFile("../../docs/policy.md")
	if err != nil {
		t.Fatal(err)
	}
	_, examples, ok := strings.Cut(string(data), "## Worked examples")
	if !ok {
		t.Fatal("docs/policy.md has no worked examples")
	}
	db, _ := filepath.Abs("../vulndb/testdata/db")
	n := 0
	for _, block := range strings.Split(examples, "```toml\n")[1:] {
		src, _, _ := strings.Cut(block, "```")
		src = strings.ReplaceAll(src, "/var/lib/gatehouse/vulndb", db)
		if _, err := Parse("example.toml", []byte(src)); err != nil {
			t.Errorf("example %d: %v\n%s", n+1, err, src)
		}
		n++
	}
	if n < 5 {
		t.Errorf("found %d examples, want at least 5", n)
	}
}
