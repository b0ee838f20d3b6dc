package server

import "time"

func ParseLookupForTest(p string) (string, bool) {
	r, ok := parseLookup(p)
	return r.String(), ok
}

// SetReadyTTLForTest changes how long /readyz keeps its storage check.
func SetReadyTTLForTest(s *Server, d time.Duration) { s.readyTTL = d }
