package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// The hash of a line covers the exact bytes the writer produced with Hash
// empty: the record's JSON ends in `"hash":""}`, which is hashed together
// with nothing else (Prev and Seq are inside it, so the lines are chained).
// Verify rebuilds those bytes from a line by emptying the hash field, so it
// does not depend on re-encoding the record, and lines written by a later
// version with more fields still verify.

// A line is sealed with a plain SHA-256 ("sha256:…"), or, when the log has
// a key, with HMAC-SHA256 under it ("hmac-sha256:…"). A plain chain shows
// edits made by anyone who cannot rewrite the rest of the file; a keyed one
// also stops whoever can, but does not hold the key. Since each line's seal
// covers the hash of the line before, one keyed line vouches for every line
// before it, keyed or not.
const (
	hashPrefix = "sha256:"
	hmacPrefix = "hmac-sha256:"
)

var (
	emptyHashTail = []byte(`,"hash":""}`)
	hashTailStart = []byte(`,"hash":"`)
)

// seal sets r's Seq and Prev, and returns the line (with newline) and its hash.
func seal(r Record, seq uint64, prev string, key []byte) ([]byte, string, error) {
	r.Seq, r.Prev, r.Hash = seq, prev, ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, "", err
	}
	if !bytes.HasSuffix(b, emptyHashTail) {
		return nil, "", errors.New("audit: record does not end with the hash field")
	}
	h := lineHash(b, key)
	line := make([]byte, 0, len(b)+len(h)+1)
	line = append(line, b[:len(b)-2]...) // up to and including the opening quote
	line = append(line, h...)
	line = append(line, '"', '}', '\n')
	return line, h, nil
}

func lineHash(unsealed, key []byte) string {
	if key != nil {
		m := hmac.New(sha256.New, key)
		m.Write(unsealed)
		return hmacPrefix + hex.EncodeToString(m.Sum(nil))
	}
	sum := sha256.Sum256(unsealed)
	return hashPrefix + hex.EncodeToString(sum[:])
}

// chainFields are the fields Verify needs from a line.
type chainFields struct {
	Replica string `json:"replica"`
	Seq     uint64 `json:"seq"`
	Prev    string `json:"prev"`
	Hash    string `json:"hash"`
}

// keyed reports whether the line was sealed with a key.
func (f chainFields) keyed() bool { return strings.HasPrefix(f.Hash, hmacPrefix) }

// ErrNeedKey is returned for a line sealed with a key when none was given.
var ErrNeedKey = errors.New("the line is sealed with a key (hmac-sha256): verify with the audit key file")

// checkLine parses one line (without its newline) and checks that its seal
// matches its content. A keyed line needs key; a plain line is checked
// either way. It returns the line's chain fields.
func checkLine(line, key []byte) (chainFields, error) {
	var f chainFields
	if err := json.Unmarshal(line, &f); err != nil {
		return f, fmt.Errorf("not a JSON record: %v", err)
	}
	i := bytes.LastIndex(line, hashTailStart)
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) || string(line[i+len(hashTailStart):len(line)-2]) != f.Hash {
		return f, errors.New(`the "hash" field is missing or not last`)
	}
	unsealed := append(append([]byte{}, line[:i]...), emptyHashTail...)
	switch {
	case f.keyed() && key == nil:
		return f, ErrNeedKey
	case f.keyed():
		if !hmac.Equal([]byte(lineHash(unsealed, key)), []byte(f.Hash)) {
			return f, errors.New("seal mismatch: the line was edited, or sealed with another key")
		}
	case strings.HasPrefix(f.Hash, hashPrefix):
		if lineHash(unsealed, nil) != f.Hash {
			return f, errors.New("hash mismatch: the line was edited")
		}
	default:
		return f, errors.New(`the "hash" field is neither sha256: nor hmac-sha256:`)
	}
	return f, nil
}
