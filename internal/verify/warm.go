package verify

// A Warmer can start what a Check of path@version will need before the
// hash to check is known, so that the checksum database lookup (and the
// tiles proving it) run alongside the download instead of after it. Warm
// returns at once, with a channel closed when the lookups have ended; the
// Check that follows waits for the same lookup rather than starting
// another. A caller whose download failed waits on the channel (within
// its deadline), so that the lookup does not run on behind it.
type Warmer interface {
	Warm(path, version string) (done <-chan struct{})
}

var closed = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Warm starts the lookup of path@version (version without "/go.mod": one
// lookup answers for both hashes).
func (s *SumDB) Warm(path, version string) <-chan struct{} {
	if s.Skipped(path) {
		return closed
	}
	// The client shares one lookup of a version between all who ask
	// (and keeps its answer), so the Check that follows waits for this one.
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.lookup(path, version)
	}()
	return done
}

// Warm starts the upstream lookup unless the ledger answers already.
func (r *Recorded) Warm(path, version string) <-chan struct{} {
	if _, _, ok := r.Ledger.Lookup(path, version); ok {
		return closed
	}
	return r.Upstream.Warm(path, version)
}

// Warm warms each Checker of the chain that can be.
func (c Chain) Warm(path, version string) <-chan struct{} {
	var dones []<-chan struct{}
	for _, ch := range c {
		if w, ok := ch.(Warmer); ok {
			dones = append(dones, w.Warm(path, version))
		}
	}
	all := make(chan struct{})
	go func() {
		defer close(all)
		for _, d := range dones {
			<-d
		}
	}()
	return all
}
