package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
)

// The hash of a line covers the exact bytes the writer produced with Hash
// empty: the record's JSON ends in `"hash":""}`, which is hashed together
// with nothing else (Prev and Seq are inside it, so the lines are chained).
// Verify rebuilds those bytes from a line by emptying the hash field, so it
// does not depend on re-encoding the record, and lines written by a later
// version with more fields still verify.

const hashPrefix = "sha256:"

var (
	emptyHashTail = []byte(`,"hash":""}`)
	hashTailStart = []byte(`,"hash":"`)
)

// seal sets r's Seq and Prev, and returns the line (with newline) and its hash.
func seal(r Record, seq uint64, prev string) ([]byte, string, error) {
	r.Seq, r.Prev, r.Hash = seq, prev, ""
	b, err := json.Marshal(r)
	if err != nil {
		return nil, "", err
	}
	if !bytes.HasSuffix(b, emptyHashTail) {
		return nil, "", errors.New("audit: record does not end with the hash field")
	}
	h := lineHash(b)
	line := make([]byte, 0, len(b)+len(h)+1)
	line = append(line, b[:len(b)-2]...) // up to and including the opening quote
	line = append(line, h...)
	line = append(line, '"', '}', '\n')
	return line, h, nil
}

func lineHash(unsealed []byte) string {
	sum := sha256.Sum256(unsealed)
	return hashPrefix + hex.EncodeToString(sum[:])
}

// chainFields are the fields Verify needs from a line.
type chainFields struct {
	Seq  uint64 `json:"seq"`
	Prev string `json:"prev"`
	Hash string `json:"hash"`
}

// checkLine parses one line (without its newline) and checks that its hash
// matches its content. It returns the line's chain fields.
func checkLine(line []byte) (chainFields, error) {
	var f chainFields
	if err := json.Unmarshal(line, &f); err != nil {
		return f, fmt.Errorf("not a JSON record: %v", err)
	}
	i := bytes.LastIndex(line, hashTailStart)
	if i < 0 || !bytes.HasSuffix(line, []byte(`"}`)) || string(line[i+len(hashTailStart):len(line)-2]) != f.Hash {
		return f, errors.New(`the "hash" field is missing or not last`)
	}
	unsealed := append(append([]byte{}, line[:i]...), emptyHashTail...)
	if got := lineHash(unsealed); got != f.Hash {
		return f, errors.New("hash mismatch: the line was edited")
	}
	return f, nil
}
