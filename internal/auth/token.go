package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// TokenPrefix starts every gatehouse token, so secret scanners can find
// leaked ones and a token is never mistaken for an ID token.
const TokenPrefix = "gth_"

// tokenLen is the length of the random part: 32 bytes in base62.
const tokenLen = 43

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewToken returns a fresh random token (256 bits) and its hash for the
// config file.
func NewToken() (token, hash string, err error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", err
	}
	n := new(big.Int).SetBytes(b[:])
	out := make([]byte, tokenLen)
	base := big.NewInt(62)
	mod := new(big.Int)
	for i := tokenLen - 1; i >= 0; i-- {
		n.DivMod(n, base, mod)
		out[i] = base62[mod.Int64()]
	}
	token = TokenPrefix + string(out)
	return token, HashToken(token), nil
}

// HashToken is the form a token is stored in: "sha256:<hex>". A fast hash
// is enough because tokens carry 256 random bits, so there is nothing to
// brute-force; a slow password hash would only cost time on every request.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// CheckTokenHash reports whether s has the form HashToken produces.
func CheckTokenHash(s string) error {
	h, ok := strings.CutPrefix(s, "sha256:")
	if _, err := hex.DecodeString(h); !ok || err != nil || len(h) != 64 {
		return fmt.Errorf("token hash must be sha256:<64 hex digits>, as printed by gatehouse token create")
	}
	return nil
}

// A TokenEntry is one configured token: who it is and its hash.
type TokenEntry struct {
	Name   string
	Hash   string // "sha256:<hex>"
	Groups []string
}

// Tokens checks tokens against their configured hashes.
type Tokens struct {
	entries []tokenEntry
}

type tokenEntry struct {
	TokenEntry
	sum []byte
}

// NewTokens returns a checker for entries; hashes must be valid.
func NewTokens(entries []TokenEntry) (*Tokens, error) {
	t := &Tokens{}
	seen := map[string]bool{}
	for _, e := range entries {
		if err := CheckTokenHash(e.Hash); err != nil {
			return nil, fmt.Errorf("token %q: %v", e.Name, err)
		}
		if seen[e.Hash] {
			return nil, fmt.Errorf("token %q: the same hash is configured twice", e.Name)
		}
		seen[e.Hash] = true
		sum, _ := hex.DecodeString(strings.TrimPrefix(e.Hash, "sha256:"))
		t.entries = append(t.entries, tokenEntry{e, sum})
	}
	return t, nil
}

// Lookup returns the identity of token, or nil. It compares the token's
// hash with every entry in constant time and does not stop at a match, so
// timing tells nothing about which entry, if any, matched.
func (t *Tokens) Lookup(token string) *Identity {
	if t == nil || len(t.entries) == 0 {
		return nil
	}
	sum := sha256.Sum256([]byte(token))
	match := -1
	for i := range t.entries {
		if subtle.ConstantTimeCompare(sum[:], t.entries[i].sum) == 1 {
			match = i
		}
	}
	if match < 0 {
		return nil
	}
	e := t.entries[match]
	return &Identity{Name: e.Name, Method: "token", Groups: e.Groups}
}

// Len is the number of configured tokens.
func (t *Tokens) Len() int {
	if t == nil {
		return 0
	}
	return len(t.entries)
}
