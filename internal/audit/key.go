package audit

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/atomicfile"
)

// minKeyLen is the shortest key LoadKey accepts: 32 bytes, as HMAC-SHA256
// wants at least the hash's size.
const minKeyLen = 32

// LoadKey reads an audit key file: its contents, surrounding white space
// removed, are the key. The file must not be readable by group or others
// (a key anyone can read protects nothing), and must hold at least 32 bytes.
func LoadKey(name string) ([]byte, error) {
	st, err := os.Stat(name)
	if err != nil {
		return nil, err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%s is accessible to other users (mode %04o): chmod 600 it", name, st.Mode().Perm())
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	key := []byte(strings.TrimSpace(string(b)))
	if len(key) < minKeyLen {
		return nil, fmt.Errorf("%s holds %d bytes; an audit key needs at least %d (make one with 'gatehouse audit keygen FILE')", name, len(key), minKeyLen)
	}
	return key, nil
}

// WriteKey creates name with a new random key (32 bytes, hex-encoded),
// mode 0600. It never overwrites an existing file: losing the old key
// would leave the lines sealed with it unverifiable.
func WriteKey(name string) error {
	var raw [32]byte
	rand.Read(raw[:])
	err := atomicfile.Create(name, []byte(hex.EncodeToString(raw[:])+"\n"), 0o600)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; not overwriting an audit key", name)
	}
	return err
}
