package verify

import (
	"fmt"
	"strings"
)

// The checker keeps each tile and lookup answer it has verified, as the
// database served it, in its state directory. The client-facing /sumdb/
// proxy answers from there too (internal/sumdb), so that one cache serves
// both: what gatehouse has verified is not fetched again for a client,
// and the bytes are the database's own, which the go command verifies
// itself.

// Verified returns the kept answer for p, a path of the database's
// protocol: "tile/8/0/001" (or a partial or data tile), or
// "lookup/<escaped path>@<escaped version>". Only answers the checker
// verified are kept: tiles once their hashes matched a signed tree, and
// lookups once their record was proved in it.
func (s *SumDB) Verified(p string) ([]byte, bool) {
	if !(strings.HasPrefix(p, "tile/") || strings.HasPrefix(p, "lookup/")) {
		return nil, false
	}
	data, err := s.ops.ReadCache(s.name + "/" + p)
	return data, err == nil && len(data) > 0
}

// Verify looks path@version up as Check does, verifying the record's
// inclusion in the signed tree, so that its answer and the tiles proving
// it are kept for Verified.
func (s *SumDB) Verify(path, version string) error {
	if s.Skipped(path) {
		return fmt.Errorf("%w: %s is exempt from checksum verification (nosumdb)", ErrNoRecord, path)
	}
	if _, err := s.lookup(path, version); err != nil {
		if msg := s.ops.lastSecurityError(); msg != "" {
			return &SecurityError{Name: s.name, Msg: msg}
		}
		return err
	}
	return nil
}
