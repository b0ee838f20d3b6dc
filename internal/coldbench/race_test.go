//go:build race

package coldbench

// raceEnabled: the FileServer of the hit load test is this test binary, which
// the race detector would slow against a gatehouse built without it.
const raceEnabled = true
