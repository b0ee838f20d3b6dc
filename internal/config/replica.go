package config

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// replicaIDPattern is a plain token: it names a replica in every audit
// record and in audit verify's report, so no spaces, slashes or quotes.
var replicaIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// DefaultReplicaID is the host name made into a plain token (characters
// outside A-Z a-z 0-9 . _ - become -, and none of . _ - at either end),
// or "gatehouse" if nothing is left.
func DefaultReplicaID() string {
	h, _ := os.Hostname()
	return sanitiseReplicaID(h)
}

func sanitiseReplicaID(h string) string {
	b := []byte(h)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	s := strings.TrimLeft(string(b), "._-")
	if len(s) > 64 {
		s = s[:64]
	}
	s = strings.TrimRight(s, "._-")
	if s == "" {
		return "gatehouse"
	}
	return s
}

func checkReplicaID(id String) error {
	if !replicaIDPattern.MatchString(string(id)) {
		return &Error{Key: "replica-id", Err: fmt.Errorf("%q is not a plain token (letters, digits, '.', '_', '-'; at most 64, starting with a letter or digit)", id)}
	}
	return nil
}
