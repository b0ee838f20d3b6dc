package verify

import (
	"bytes"
	"fmt"
	"io"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/dirhash"
	modzip "golang.org/x/mod/zip"
)

// HashMod returns the h1: hash of a go.mod file, the one go.sum records
// for "<version>/go.mod".
func HashMod(data []byte) (string, error) {
	return dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	})
}

// CheckZipFile checks that the module zip at name is well-formed for
// path@version (file names, sizes, no duplicates, go.mod placement) and
// returns its h1: hash.
func CheckZipFile(path, version, name string) (string, error) {
	mv := module.Version{Path: path, Version: version}
	cf, err := modzip.CheckZip(mv, name)
	if err != nil {
		return "", fmt.Errorf("invalid zip for %s@%s: %w", path, version, err)
	}
	if err := cf.Err(); err != nil {
		return "", fmt.Errorf("invalid zip for %s@%s: %w", path, version, err)
	}
	h, err := dirhash.HashZip(name, dirhash.Hash1)
	if err != nil {
		return "", fmt.Errorf("hashing zip for %s@%s: %w", path, version, err)
	}
	return h, nil
}
