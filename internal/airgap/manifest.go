// Package airgap moves a gatehouse store across an air gap: export writes
// the selected module versions and the checksum-database proofs for each
// (signed tree head, records, the tiles that prove inclusion) into one tar
// file; import checks all of it before anything enters the other store.
package airgap

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"
)

// Bundle entry names.
const (
	manifestName = "manifest.json"
	latestName   = "sumdb/latest"   // signed tree head
	recordsDir   = "sumdb/records/" // <escaped path>@<escaped version>: "<id>\n<text>"
	tilesDir     = "sumdb/"         // sumdb/tile/8/L/N[.p/W]
	filesDir     = "files/"         // store names: <escaped path>/@v/<version>.{info,mod,zip}
)

// Manifest is the first entry of a bundle.
type Manifest struct {
	Format  int       `json:"format"` // 1
	Created time.Time `json:"created"`
	SumDB   string    `json:"sumdb"` // database name
	Tree    Tree      `json:"tree"`  // the tree the records are proven in
	Modules []Module  `json:"modules"`
	Files   []File    `json:"files"` // every other entry of the bundle
}

// Tree is a tree head, for the manifest's reader.
type Tree struct {
	Size int64  `json:"size"`
	Hash string `json:"hash"`
}

// Module is one module version in the bundle.
type Module struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Record  int64  `json:"record"` // its record id in the checksum database
	Zip     bool   `json:"zip"`    // false: go.mod only (MVS reads it, builds do not)
}

// File is one bundle entry and its hash.
type File struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// ReadManifest reads a manifest file written by export (with -o FILE, the
// manifest is also written next to the bundle as FILE.manifest.json).
func ReadManifest(path string) (*Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return decodeManifest(f)
}

func decodeManifest(r io.Reader) (*Manifest, error) {
	var m Manifest
	dec := json.NewDecoder(io.LimitReader(r, 256<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	if m.Format != 1 {
		return nil, fmt.Errorf("manifest: format %d, want 1", m.Format)
	}
	return &m, nil
}
