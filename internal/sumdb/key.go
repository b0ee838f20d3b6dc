package sumdb

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/mod/sumdb/note"

	"github.com/gatehouse-dev/gatehouse/internal/atomicfile"
)

// LoadOrCreateKey returns the signer key in file, creating the file (mode
// 0600, directories 0700) with a new ed25519 key named name if it does not
// exist. It also returns the verifier key a client puts in GOSUMDB.
// A key file of another name, or one that others may read, is refused.
func LoadOrCreateKey(file, name string) (skey, vkey string, err error) {
	if name == "" || strings.ContainsAny(name, "+ \t\n") {
		return "", "", fmt.Errorf("checksum log name %q is not valid (no spaces or '+')", name)
	}
	data, err := os.ReadFile(file)
	if err == nil && len(bytes.TrimSpace(data)) == 0 {
		// An empty file is a key that was never written: an earlier
		// version created it and crashed before the write reached the
		// disk. Nothing can have been signed with it that survived.
		if err := os.Remove(file); err != nil {
			return "", "", fmt.Errorf("replacing empty checksum log key: %w", err)
		}
		err = os.ErrNotExist
	}
	if errors.Is(err, os.ErrNotExist) {
		skey, vkey, err = note.GenerateKey(rand.Reader, name)
		if err != nil {
			return "", "", err
		}
		if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
			return "", "", err
		}
		// Whole or not at all: a key half-written by a crash would stop
		// every later start.
		if err := atomicfile.Create(file, []byte(skey+"\n"), 0o600); err != nil {
			return "", "", fmt.Errorf("creating checksum log key: %w", err)
		}
		return skey, vkey, nil
	}
	if err != nil {
		return "", "", fmt.Errorf("reading checksum log key: %w", err)
	}
	if st, err := os.Stat(file); err == nil && st.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("checksum log key %s is readable by others (mode %v): chmod 600 it", file, st.Mode().Perm())
	}
	skey = strings.TrimSpace(string(data))
	vkey, err = VerifierKey(skey)
	if err != nil {
		return "", "", fmt.Errorf("checksum log key %s: %v", file, err)
	}
	if got, _, _ := strings.Cut(vkey, "+"); got != name {
		return "", "", fmt.Errorf("checksum log key %s is for %q, not %q: set own-sumdb to match or use another key file", file, got, name)
	}
	return skey, vkey, nil
}

// VerifierKey derives the verifier key ("name+hash+key") from a signer key
// as printed by note.GenerateKey.
func VerifierKey(skey string) (string, error) {
	s, err := note.NewSigner(skey) // checks syntax and the key hash
	if err != nil {
		return "", fmt.Errorf("not a signer key: %v", err)
	}
	// PRIVATE+KEY+name+hash+base64(alg, seed); base64 may contain '+'.
	rest := skey
	for range 4 {
		_, rest, _ = strings.Cut(rest, "+")
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return "", errors.New("not an ed25519 signer key")
	}
	pub := ed25519.NewKeyFromSeed(raw[1:]).Public().(ed25519.PublicKey)
	return note.NewEd25519VerifierKey(s.Name(), pub)
}
