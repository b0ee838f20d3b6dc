package config

import (
	"strings"
	"testing"
)

// The default replica id is the host name made into a token that the
// replica-id check accepts, whatever the host name holds.
func TestDefaultReplicaIDIsAPlainToken(t *testing.T) {
	for in, want := range map[string]string{
		"gh-1.corp.example":     "gh-1.corp.example",
		"pod name/x\"y":         "pod-name-x-y",
		"-lead":                 "lead",
		"":                      "gatehouse",
		"ünï":                   "n",
		"...":                   "gatehouse",
		strings.Repeat("h", 70): strings.Repeat("h", 64),
	} {
		got := sanitiseReplicaID(in)
		if got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
		if err := checkReplicaID(String(got)); err != nil {
			t.Errorf("%q: the default %q is refused: %v", in, got, err)
		}
	}
	if err := checkReplicaID(String(DefaultReplicaID())); err != nil {
		t.Errorf("this host's default: %v", err)
	}
}
