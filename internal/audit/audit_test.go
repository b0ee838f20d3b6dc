package audit

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testutil"
)

func rec(i int) Record {
	return Record{Time: time.Unix(1700000000, int64(i)).UTC(), Service: "proxy", RequestID: fmt.Sprint("r", i),
		Identity: "ci", Module: "example.com/m", Version: "v1.0.0", Kind: "zip", Decision: "allow", Status: 200, Bytes: int64(i)}
}

func writeN(t *testing.T, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		if err := l.Write(rec(i)); err != nil {
			t.Fatal(err)
		}
	}
}

func readLines(t *testing.T, name string) []string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
}

func writeLines(t *testing.T, name string, lines []string) {
	t.Helper()
	s := strings.Join(lines, "")
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if err := os.WriteFile(name, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestChainVerifies(t *testing.T) {
	name := filepath.Join(t.TempDir(), "audit.log")
	var stdout bytes.Buffer
	l, err := Open(Options{File: name, Stdout: &stdout})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, l, 0, 5)
	seq, head := l.Head()
	l.Close()
	file, _ := os.ReadFile(name)
	if !bytes.Equal(file, stdout.Bytes()) {
		t.Errorf("stdout and file differ")
	}
	s, err := Verify(name)
	if err != nil {
		t.Fatal(err)
	}
	if s.Records != 5 || s.FirstSeq != 1 || s.LastSeq != 5 || s.LastHash != head || seq != 5 || s.FirstPrev != "" {
		t.Errorf("summary %+v, head %d %s", s, seq, head)
	}
	if !strings.HasSuffix(string(file), `"}`+"\n") || !strings.Contains(string(file), `"hash":"sha256:`) {
		t.Errorf("lines lack the hash field: %s", file)
	}
}

// Every way of tampering with a line is caught at that line.
func TestVerifyDetectsTampering(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "audit.log")
	l, _ := Open(Options{File: name})
	writeN(t, l, 0, 5)
	l.Close()
	orig := readLines(t, name)
	swap := func(l []string, i, j int) []string { l[i], l[j] = l[j], l[i]; return l }
	cases := []struct {
		name   string
		edit   func([]string) []string
		line   int
		reason string
	}{
		{"edited field", func(l []string) []string {
			l[2] = strings.Replace(l[2], `"identity":"ci"`, `"identity":"cj"`, 1)
			return l
		}, 3, "edited"},
		{"edited decision", func(l []string) []string {
			l[1] = strings.Replace(l[1], `"decision":"allow"`, `"decision":"deny"`, 1)
			return l
		}, 2, "edited"},
		{"removed line", func(l []string) []string { return append(l[:2:2], l[3:]...) }, 3, "removed"},
		{"reordered", func(l []string) []string { return swap(l, 1, 3) }, 2, "removed or moved"},
		{"repeated", func(l []string) []string { return append(l[:3:3], l[2:]...) }, 4, "reordered or repeated"},
		{"first removed", func(l []string) []string { return l[1:] }, 0, ""}, // undetectable alone: see FirstPrev
		{"hash field moved", func(l []string) []string {
			l[0] = strings.Replace(l[0], `{"time"`, `{"x":1,"time"`, 1)
			return l
		}, 1, "edited"},
		{"truncated line", func(l []string) []string { l[4] = l[4][:20]; return l }, 5, "JSON"},
		{"garbage", func(l []string) []string { l[1] = "hello\n"; return l }, 2, "JSON"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(dir, strings.ReplaceAll(c.name, " ", "_"))
			writeLines(t, f, c.edit(append([]string(nil), orig...)))
			s, err := Verify(f)
			if c.line == 0 {
				if err != nil || s.FirstSeq != 2 || s.FirstPrev == "" {
					t.Fatalf("got %+v, %v; want a summary starting at seq 2", s, err)
				}
				return
			}
			var ve *VerifyError
			if !errors.As(err, &ve) {
				t.Fatalf("Verify = %v, want a VerifyError", err)
			}
			if ve.Line != c.line || !strings.Contains(ve.Msg, c.reason) || !strings.HasPrefix(err.Error(), fmt.Sprintf("%s:%d: ", f, c.line)) {
				t.Errorf("got %q, want line %d mentioning %q", err, c.line, c.reason)
			}
		})
	}
}

func TestRotationKeepsTheChain(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "audit.log")
	l, err := Open(Options{File: name, MaxSize: 1000, MaxFiles: 3})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, l, 0, 40)
	l.Close()
	files, _ := filepath.Glob(name + "*")
	if len(files) != 4 {
		t.Fatalf("files %v, want audit.log and 3 rotated", files)
	}
	for _, f := range files {
		if st, _ := os.Stat(f); st.Size() > 1000 {
			t.Errorf("%s is %d bytes, over MaxSize", f, st.Size())
		}
	}
	// The glob order (log, log.1, log.2, log.3) is not chain order; Verify sorts.
	s, err := Verify(files...)
	if err != nil {
		t.Fatal(err)
	}
	if s.LastSeq != 40 || s.FirstSeq == 1 || s.FirstPrev == "" {
		t.Errorf("summary %+v: want the oldest records rotated away", s)
	}
	// A rotated file removed from the middle is a gap.
	_, err = Verify(name, name+".1", name+".3")
	if err == nil || !strings.Contains(err.Error(), "removed") {
		t.Errorf("missing middle file: %v", err)
	}
}

func TestChainContinuesAfterRestart(t *testing.T) {
	name := filepath.Join(t.TempDir(), "audit.log")
	for i := 0; i < 3; i++ {
		l, err := Open(Options{File: name, MaxSize: 700})
		if err != nil {
			t.Fatal(err)
		}
		writeN(t, l, i*4, 4)
		l.Close()
	}
	files, _ := filepath.Glob(name + "*")
	s, err := Verify(files...)
	if err != nil {
		t.Fatal(err)
	}
	if s.Records != 12 || s.LastSeq != 12 || s.FirstSeq != 1 {
		t.Errorf("summary %+v", s)
	}
}

// A last line cut short (a crash mid-write) is set aside, not lost, and
// the chain goes on from the whole line before it.
func TestOpenSetsTornTailAside(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "audit.log")
	l, _ := Open(Options{File: name})
	writeN(t, l, 0, 2)
	l.Close()
	lines := readLines(t, name)
	torn := lines[1][:30]
	os.WriteFile(name, []byte(lines[0]+torn), 0o600)
	var logged testutil.Buffer
	l, err := Open(Options{File: name, Logger: slog.New(slog.NewTextHandler(&logged, nil))})
	if err != nil {
		t.Fatalf("Open with a torn last line: %v", err)
	}
	writeN(t, l, 2, 1)
	l.Close()
	s, err := Verify(name)
	if err != nil || s.Records != 2 || s.LastSeq != 2 {
		t.Fatalf("chain after recovery: %+v, %v", s, err)
	}
	aside, _ := filepath.Glob(filepath.Join(dir, "torn-audit.log-*"))
	if len(aside) != 1 {
		t.Fatalf("torn line set aside in %v", aside)
	}
	if got, _ := os.ReadFile(aside[0]); string(got) != torn {
		t.Errorf("set aside %q, want %q", got, torn)
	}
	if !strings.Contains(logged.String(), aside[0]) {
		t.Errorf("warning does not name %s: %s", aside[0], logged.String())
	}
	// Restarting again changes nothing more.
	l, err = Open(Options{File: name})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if again, _ := filepath.Glob(filepath.Join(dir, "torn-*")); len(again) != 1 {
		t.Errorf("second open set more aside: %v", again)
	}
}

// A log whose last line is damaged is not appended to: that would bury the damage.
func TestOpenRefusesDamagedTail(t *testing.T) {
	name := filepath.Join(t.TempDir(), "audit.log")
	l, _ := Open(Options{File: name})
	writeN(t, l, 0, 2)
	l.Close()
	lines := readLines(t, name)
	writeLines(t, name, []string{lines[0], strings.Replace(lines[1], "ci", "xx", 1)})
	if _, err := Open(Options{File: name}); err == nil || !strings.Contains(err.Error(), "edited") {
		t.Errorf("Open with an edited last line: %v", err)
	}
}

func TestConcurrentWriters(t *testing.T) {
	name := filepath.Join(t.TempDir(), "audit.log")
	l, _ := Open(Options{File: name, MaxSize: 4000, MaxFiles: 0})
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			writeN(t, l, g*100, 25)
		}()
	}
	wg.Wait()
	l.Close()
	files, _ := filepath.Glob(name + "*")
	s, err := Verify(files...)
	if err != nil {
		t.Fatal(err)
	}
	if s.Records != 200 || s.FirstSeq != 1 {
		t.Errorf("summary %+v, want all 200 records kept", s)
	}
	if err := l.Write(rec(0)); err == nil {
		t.Error("Write after Close succeeded")
	}
}

func TestOpenNeedsASink(t *testing.T) {
	if _, err := Open(Options{}); err == nil {
		t.Error("Open with no sink succeeded")
	}
}
