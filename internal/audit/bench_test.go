package audit

import (
	"path/filepath"
	"testing"
)

// What one audit line costs a request: sealing (SHA-256 or HMAC) and one
// O_APPEND write to the file.
func BenchmarkWrite(b *testing.B) {
	for _, c := range []struct {
		name string
		key  []byte
	}{{"sha256", nil}, {"hmac", testKey}} {
		b.Run(c.name, func(b *testing.B) {
			l, err := Open(Options{File: filepath.Join(b.TempDir(), "audit.log"), Key: c.key})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			r := rec(1)
			b.ReportAllocs()
			for b.Loop() {
				if err := l.Write(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
