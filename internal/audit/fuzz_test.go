package audit

import "testing"

// Verify reads files that may have been tampered with by anyone: any line
// must be judged without a panic, and a line is accepted only if its seal
// matches (a sealed copy of a fuzzed record always verifies, and any
// change to it never does).
func FuzzCheckLine(f *testing.F) {
	line, _, _ := seal(rec(1), 1, "", nil)
	keyed, _, _ := seal(rec(2), 2, "sha256:00", testKey)
	f.Add(line[:len(line)-1], "ci")
	f.Add(keyed[:len(keyed)-1], "x")
	f.Add([]byte(`{"hash":"sha256:"}`), "")
	f.Add([]byte(`{"seq":1,"hash":"hmac-sha256:zz","hash":"sha256:"}`), "\x00")
	f.Fuzz(func(t *testing.T, data []byte, identity string) {
		checkLine(data, nil)
		checkLine(data, testKey)

		r := rec(3)
		r.Identity = identity
		for _, key := range [][]byte{nil, testKey} {
			l, _, err := seal(r, 3, "sha256:ab", key)
			if err != nil {
				t.Fatal(err)
			}
			l = l[:len(l)-1]
			if _, err := checkLine(l, key); err != nil {
				t.Fatalf("a sealed line does not verify: %v\n%s", err, l)
			}
			if i := len(data) % len(l); len(data) > 0 && l[i] != data[0] {
				edited := append([]byte(nil), l...)
				edited[i] = data[0]
				if _, err := checkLine(edited, key); err == nil {
					t.Fatalf("an edited line verifies:\n%s\n%s", l, edited)
				}
			}
		}
	})
}
