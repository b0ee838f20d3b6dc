package auth

import (
	"regexp"
	"testing"
)

func TestTokens(t *testing.T) {
	tok, hash, err := NewToken()
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^gth_[0-9A-Za-z]{43}$`).MatchString(tok) {
		t.Errorf("token %q lacks the recognisable form", tok)
	}
	tok2, hash2, _ := NewToken()
	if tok == tok2 {
		t.Fatal("two tokens are equal")
	}
	ts, err := NewTokens([]TokenEntry{{Name: "ci", Hash: hash, Groups: []string{"build"}}, {Name: "dev", Hash: hash2}})
	if err != nil {
		t.Fatal(err)
	}
	if id := ts.Lookup(tok); id == nil || id.Name != "ci" || id.Method != "token" || !id.InGroup("build") {
		t.Errorf("Lookup(ci token) = %+v", id)
	}
	if id := ts.Lookup(tok2); id == nil || id.Name != "dev" {
		t.Errorf("Lookup(dev token) = %+v", id)
	}
	// The last character changed: to "1" if it was "0", else to "0" (a
	// fixed "0" made this a valid token one run in 62).
	last := "0"
	if tok[len(tok)-1] == '0' {
		last = "1"
	}
	for _, bad := range []string{"", tok[:len(tok)-1], tok + "x", hash, tok[:len(tok)-1] + last} {
		if id := ts.Lookup(bad); id != nil {
			t.Errorf("Lookup(%q) = %+v, want nil", bad, id)
		}
	}
	if _, err := NewTokens([]TokenEntry{{Name: "x", Hash: "sha256:abc"}}); err == nil {
		t.Error("short hash accepted")
	}
	if _, err := NewTokens([]TokenEntry{{Name: "x", Hash: tok}}); err == nil {
		t.Error("a plain token accepted as a hash")
	}
	if _, err := NewTokens([]TokenEntry{{Name: "a", Hash: hash}, {Name: "b", Hash: hash}}); err == nil {
		t.Error("duplicate hash accepted")
	}
}
