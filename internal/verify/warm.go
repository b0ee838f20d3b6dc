package verify

// A Warmer can start what a Check of path@version will need before the
// hash to check is known, so that the checksum database lookup (and the
// tiles proving it) run alongside the download instead of after it. Warm
// returns at once; the Check that follows waits for the same lookup
// rather than starting another.
type Warmer interface {
	Warm(path, version string)
}

// Warm starts the lookup of path@version (version without "/go.mod": one
// lookup answers for both hashes).
func (s *SumDB) Warm(path, version string) {
	if s.Skipped(path) {
		return
	}
	// The client shares one lookup of a version between all who ask
	// (and keeps its answer), so the Check that follows waits for this one.
	go s.lookup(path, version)
}

// Warm starts the upstream lookup unless the ledger answers already.
func (r *Recorded) Warm(path, version string) {
	if _, _, ok := r.Ledger.Lookup(path, version); !ok {
		r.Upstream.Warm(path, version)
	}
}

// Warm warms each Checker of the chain that can be.
func (c Chain) Warm(path, version string) {
	for _, ch := range c {
		if w, ok := ch.(Warmer); ok {
			w.Warm(path, version)
		}
	}
}
