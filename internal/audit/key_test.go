package audit

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var (
	testKey  = []byte("0123456789abcdef0123456789abcdef")
	otherKey = []byte("fedcba9876543210fedcba9876543210")
)

// reseal is the forger's tool: it re-seals lines[from:] into a consistent
// chain with key (nil: plain SHA-256), as someone who can write the file
// would after editing a line.
func reseal(t *testing.T, lines []string, from int, key []byte) []string {
	t.Helper()
	out := append([]string(nil), lines...)
	var prev string
	if from > 0 {
		var cf chainFields
		json.Unmarshal([]byte(out[from-1]), &cf)
		prev = cf.Hash
	}
	for i := from; i < len(out); i++ {
		var r Record
		if err := json.Unmarshal([]byte(out[i]), &r); err != nil {
			t.Fatal(err)
		}
		line, h, err := seal(r, r.Seq, prev, key)
		if err != nil {
			t.Fatal(err)
		}
		out[i], prev = string(line), h
	}
	return out
}

func keyedLog(t *testing.T, n int) (string, []string) {
	t.Helper()
	name := filepath.Join(t.TempDir(), "audit.log")
	l, err := Open(Options{File: name, Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, l, 0, n)
	l.Close()
	return name, readLines(t, name)
}

func TestKeyedChainVerifiesOnlyWithItsKey(t *testing.T) {
	name, lines := keyedLog(t, 5)
	for _, l := range lines {
		if !strings.Contains(l, `"hash":"hmac-sha256:`) || !strings.Contains(l, `"prev":"hmac-sha256:`) && !strings.Contains(l, `"seq":1,`) {
			t.Fatalf("line not sealed with the key: %s", l)
		}
	}
	s, err := VerifyWithKey(testKey, name)
	if err != nil || s.Records != 5 || s.Keyed != 5 || s.FirstKeyedSeq != 1 {
		t.Fatalf("with the key: %+v, %v", s, err)
	}
	if _, err := Verify(name); err == nil || !strings.Contains(err.Error(), ErrNeedKey.Error()) {
		t.Errorf("without a key: %v, want a request for the key", err)
	}
	var ve *VerifyError
	if _, err := VerifyWithKey(otherKey, name); !errors.As(err, &ve) || ve.Line != 1 || !strings.Contains(ve.Msg, "another key") {
		t.Errorf("with another key: %v", err)
	}
}

// Someone who can write the log but does not hold the key edits a line and
// re-seals what follows, in every way open to them: all are caught.
func TestKeyedChainRefusesForgeries(t *testing.T) {
	name, lines := keyedLog(t, 5)
	edit := func(l []string) []string {
		l = append([]string(nil), l...)
		l[2] = strings.Replace(l[2], `"identity":"ci"`, `"identity":"intruder"`, 1)
		return l
	}
	for _, c := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"edited, not re-sealed", edit(lines), "edited, or sealed with another key"},
		{"edited, rest re-sealed plain", reseal(t, edit(lines), 2, nil), "not sealed with the key, after 2 lines"},
		{"whole file re-written plain", reseal(t, edit(lines), 0, nil), "no record is sealed with the key"},
		{"edited, re-sealed with a guessed key", reseal(t, edit(lines), 2, otherKey), "another key"},
		{"plain line appended", reseal(t, append(lines[:4:4], lines[4]+"\n", lines[4]), 5, nil), "not sealed with the key"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := filepath.Join(filepath.Dir(name), strings.ReplaceAll(c.name, " ", "_"))
			writeLines(t, f, c.lines)
			if _, err := VerifyWithKey(testKey, f); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
	// The forger's tool itself is sound: re-sealing with the real key verifies.
	f := filepath.Join(filepath.Dir(name), "control")
	writeLines(t, f, reseal(t, edit(lines), 2, testKey))
	if _, err := VerifyWithKey(testKey, f); err != nil {
		t.Errorf("control: %v", err)
	}
}

// A key configured for an existing plain log: gatehouse will not seal on
// top of it (TestOpenWithKeyRefusesPlainLog says why). Verify still reads
// a chain that goes on sealed after plain lines, where the first sealed
// line vouches for the ones before it.
func TestKeyAddedToPlainLog(t *testing.T) {
	name := filepath.Join(t.TempDir(), "audit.log")
	l, _ := Open(Options{File: name})
	writeN(t, l, 0, 5)
	l.Close()
	if _, err := Open(Options{File: name, Key: testKey}); err == nil || !strings.Contains(err.Error(), "not sealed with the key") {
		t.Fatalf("Open with a key on a plain log: %v, want refused", err)
	}
	writeLines(t, name, reseal(t, readLines(t, name), 3, testKey))
	s, err := VerifyWithKey(testKey, name)
	if err != nil || s.Records != 5 || s.Keyed != 2 || s.FirstKeyedSeq != 4 {
		t.Fatalf("%+v, %v", s, err)
	}
	// Editing a plain line and re-sealing the plain part breaks the link
	// the first sealed line holds.
	lines := readLines(t, name)
	lines[1] = strings.Replace(lines[1], `"decision":"allow"`, `"decision":"deny"`, 1)
	forged := reseal(t, lines[:3], 1, nil)
	writeLines(t, name, append(forged, lines[3:]...))
	var ve *VerifyError
	if _, err := VerifyWithKey(testKey, name); !errors.As(err, &ve) || ve.Line != 4 || !strings.Contains(ve.Msg, "chain is broken") {
		t.Errorf("forged plain prefix: %v, want a broken chain at line 4", err)
	}
}

// gatehouse will not append to a sealed log without its key, or with
// another one: the lines it wrote would not verify.
func TestOpenSealedLogNeedsItsKey(t *testing.T) {
	name, _ := keyedLog(t, 2)
	if _, err := Open(Options{File: name}); err == nil || !strings.Contains(err.Error(), "audit_key_file") {
		t.Errorf("no key: %v", err)
	}
	if _, err := Open(Options{File: name, Key: otherKey}); err == nil || !strings.Contains(err.Error(), "another key") {
		t.Errorf("another key: %v", err)
	}
	l, err := Open(Options{File: name, Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, l, 2, 1)
	l.Close()
	if s, err := VerifyWithKey(testKey, name); err != nil || s.Records != 3 {
		t.Errorf("%+v, %v", s, err)
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	name := filepath.Join(dir, "audit.key")
	if err := WriteKey(name); err != nil {
		t.Fatal(err)
	}
	key, err := LoadKey(name)
	if err != nil || len(key) != 64 {
		t.Fatalf("LoadKey: %d bytes, %v", len(key), err)
	}
	if st, _ := os.Stat(name); st.Mode().Perm() != 0o600 {
		t.Errorf("mode %o", st.Mode().Perm())
	}
	if err := WriteKey(name); err == nil || !strings.Contains(err.Error(), "not overwriting") {
		t.Errorf("second WriteKey: %v", err)
	}
	if again, _ := LoadKey(name); string(again) != string(key) {
		t.Error("the key changed")
	}
	other := filepath.Join(dir, "other.key")
	WriteKey(other)
	if k2, _ := LoadKey(other); string(k2) == string(key) {
		t.Error("two keys are the same")
	}

	os.Chmod(name, 0o640)
	if _, err := LoadKey(name); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable key: %v", err)
	}
	short := filepath.Join(dir, "short.key")
	os.WriteFile(short, []byte("  tooshort \n"), 0o600)
	if _, err := LoadKey(short); err == nil || !strings.Contains(err.Error(), "at least 32") || strings.Contains(err.Error(), "tooshort") {
		t.Errorf("short key: %v", err)
	}
	if _, err := LoadKey(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing key file accepted")
	}
}

// The forger re-writes a sealed log as a plain chain and waits for a
// restart. Were gatehouse to seal its next line on top, that line would
// vouch for the forgery and 'audit verify --key-file' would pass: so with a
// key it refuses to continue a log whose last line is not sealed, in the
// current file or, after rotation, in File.1.
func TestOpenWithKeyRefusesPlainLog(t *testing.T) {
	name, lines := keyedLog(t, 5)
	forged := append([]string(nil), lines...)
	forged[2] = strings.Replace(forged[2], `"identity":"ci"`, `"identity":"intruder"`, 1)
	forged = reseal(t, forged, 0, nil)
	writeLines(t, name, forged)
	if l, err := Open(Options{File: name, Key: testKey}); err == nil {
		writeN(t, l, 5, 1)
		l.Close()
		s, verr := VerifyWithKey(testKey, name)
		t.Fatalf("Open with the key continued a plain chain; verify --key-file then says %+v, %v", s, verr)
	} else if !strings.Contains(err.Error(), "not sealed with the key") {
		t.Errorf("err = %v, want it to say the log is not sealed with the key", err)
	}
	// Rotated: the current file empty, the forgery in File.1.
	if err := os.Rename(name, name+".1"); err != nil {
		t.Fatal(err)
	}
	writeLines(t, name, nil)
	os.Truncate(name, 0)
	if _, err := Open(Options{File: name, Key: testKey}); err == nil || !strings.Contains(err.Error(), name+".1") {
		t.Errorf("rotated forgery: %v, want a refusal naming %s.1", err, name)
	}
}

// A giant last line (planted by someone who can write the file) is refused
// at open without being read whole.
func TestOpenRefusesGiantLastLine(t *testing.T) {
	name, _ := keyedLog(t, 2)
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(strings.Repeat("x", 3<<20) + "\n"))
	f.Close()
	if _, err := Open(Options{File: name, Key: testKey}); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("giant last line: %v", err)
	}
}
