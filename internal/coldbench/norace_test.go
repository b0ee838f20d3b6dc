//go:build !race

package coldbench

const raceEnabled = false
