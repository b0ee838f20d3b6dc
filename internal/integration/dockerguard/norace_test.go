//go:build !race

package dockerguard

const raceEnabled = false
