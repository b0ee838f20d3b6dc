package server

func ParseLookupForTest(p string) (string, bool) {
	r, ok := parseLookup(p)
	return r.String(), ok
}
