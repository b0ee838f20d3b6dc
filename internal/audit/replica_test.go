package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// replicaLog writes n records as replica id to dir/audit.log, rotating
// at maxSize (0: never).
func replicaLog(t *testing.T, dir, id string, n int, maxSize int64) string {
	t.Helper()
	os.MkdirAll(dir, 0o700)
	name := filepath.Join(dir, "audit.log")
	l, err := Open(Options{File: name, Replica: id, MaxSize: maxSize})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, l, 0, n)
	l.Close()
	return name
}

func TestReplicaIsInEveryRecordAndSealed(t *testing.T) {
	name := replicaLog(t, t.TempDir(), "gh-1", 3, 0)
	lines := readLines(t, name)
	for i, line := range lines {
		if !strings.Contains(line, `"replica":"gh-1"`) {
			t.Fatalf("line %d has no replica: %s", i+1, line)
		}
	}
	// The replica is covered by the seal: claiming another one is an edit.
	lines[1] = strings.Replace(lines[1], `"replica":"gh-1"`, `"replica":"gh-2"`, 1)
	writeLines(t, name, lines)
	_, err := VerifyReplicas(nil, name)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.File != name || ve.Line != 2 || !strings.Contains(ve.Msg, "hash mismatch") {
		t.Fatalf("want %s:2 hash mismatch, got %v", name, err)
	}
}

func TestVerifyReplicasGroupsChains(t *testing.T) {
	dir := t.TempDir()
	a := replicaLog(t, filepath.Join(dir, "a"), "a", 10, 1200) // rotated into several files
	b := replicaLog(t, filepath.Join(dir, "b"), "b", 4, 0)
	old := replicaLog(t, filepath.Join(dir, "old"), "", 2, 0) // before replica_id
	aFiles, _ := filepath.Glob(a + "*")
	if len(aFiles) < 3 {
		t.Fatalf("replica a was not rotated: %v", aFiles)
	}
	files := append([]string{b, old}, aFiles...)
	ss, err := VerifyReplicas(nil, files...)
	if err != nil {
		t.Fatal(err)
	}
	type got struct {
		replica          string
		files, records   int
		first, last      uint64
		lastHashNonEmpty bool
	}
	var g []got
	for _, s := range ss {
		g = append(g, got{s.Replica, s.Files, s.Records, s.FirstSeq, s.LastSeq, s.LastHash != ""})
	}
	want := []got{{"", 1, 2, 1, 2, true}, {"a", len(aFiles), 10, 1, 10, true}, {"b", 1, 4, 1, 4, true}}
	if len(g) != len(want) {
		t.Fatalf("got %+v, want %+v", g, want)
	}
	for i := range want {
		if g[i] != want[i] {
			t.Errorf("chain %d: got %+v, want %+v", i, g[i], want[i])
		}
	}
	// VerifyWithKey checks one chain, and says so when given several.
	if _, err := Verify(files...); err == nil || !strings.Contains(err.Error(), "3 replicas") {
		t.Errorf("Verify of three replicas: %v", err)
	}
}

func TestVerifyReplicasReportsEachChain(t *testing.T) {
	dir := t.TempDir()
	a := replicaLog(t, filepath.Join(dir, "a"), "a", 3, 0)
	b := replicaLog(t, filepath.Join(dir, "b"), "b", 3, 0)
	lines := readLines(t, b)
	lines[2] = strings.Replace(lines[2], `"identity":"ci"`, `"identity":"root"`, 1)
	writeLines(t, b, lines)
	ss, err := VerifyReplicas(nil, a, b)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.File != b || ve.Line != 3 {
		t.Fatalf("want %s:3, got %v", b, err)
	}
	if len(ss) != 2 || ss[0].Replica != "a" || ss[0].Err != nil || ss[0].Records != 3 || ss[1].Replica != "b" || ss[1].Err == nil {
		t.Fatalf("summaries: %+v", ss)
	}
}

func TestVerifyReplicasKeepsOneChainRules(t *testing.T) {
	dir := t.TempDir()
	a := replicaLog(t, dir, "a", 9, 900)
	files, _ := filepath.Glob(a + "*")
	if len(files) < 3 {
		t.Fatalf("not rotated: %v", files)
	}
	// Overlap: one rotated file given twice, under another name.
	dup := filepath.Join(t.TempDir(), "copy")
	b, _ := os.ReadFile(a + ".1")
	os.WriteFile(dup, b, 0o600)
	if _, err := VerifyReplicas(nil, append(files, dup)...); err == nil || !strings.Contains(err.Error(), "reordered or repeated") {
		t.Errorf("overlap: %v", err)
	}
	// Gap: a middle file left out.
	var gapped []string
	for _, f := range files {
		if f != a+".1" {
			gapped = append(gapped, f)
		}
	}
	if _, err := VerifyReplicas(nil, gapped...); err == nil || !strings.Contains(err.Error(), "removed or moved") {
		t.Errorf("gap: %v", err)
	}
}

func TestVerifyRefusesALineOfAnotherReplica(t *testing.T) {
	name := replicaLog(t, t.TempDir(), "a", 3, 0)
	lines := readLines(t, name)
	// Whoever can write the file moves the last record to replica b and
	// re-seals it, so its hash and chain are sound.
	lines[2] = strings.Replace(lines[2], `"replica":"a"`, `"replica":"b"`, 1)
	lines = reseal(t, lines, 2, nil)
	writeLines(t, name, lines)
	_, err := VerifyReplicas(nil, name)
	var ve *VerifyError
	if !errors.As(err, &ve) || ve.Line != 3 || !strings.Contains(ve.Msg, "one replica") {
		t.Fatalf("want line 3 refused as another replica's, got %v", err)
	}
}

func TestOpenRotatesAFileOfAnotherReplica(t *testing.T) {
	dir := t.TempDir()
	name := replicaLog(t, dir, "", 2, 0) // a log from before replica_id
	l, err := Open(Options{File: name, Replica: "a"})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, l, 2, 2)
	l.Close()
	ss, err := VerifyReplicas(nil, name, name+".1")
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 2 || ss[0].Replica != "" || ss[0].LastSeq != 2 || ss[1].Replica != "a" || ss[1].FirstSeq != 3 || ss[1].LastSeq != 4 {
		t.Fatalf("summaries: %+v", ss)
	}
	// The new chain goes on from the old one.
	if ss[1].FirstPrev != ss[0].LastHash {
		t.Errorf("replica a's chain does not continue the old log's")
	}
}
