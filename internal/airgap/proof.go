package airgap

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/tlog"
)

// tileHeight is the tile height the go command asks for (x/mod/sumdb).
const tileHeight = 8

// tilePool holds tiles by path ("tile/8/0/001" or "tile/8/0/001.p/5"),
// from a bundle and from the state directory. It is an unverified
// tlog.HashReader: every hash read from it goes through tlog.CheckRecord
// or tlog.CheckTree against a signed tree before it is trusted.
type tilePool struct {
	tiles map[string][]byte // path → data
	dir   string            // state dir with tile/...; "" for none
}

func (p *tilePool) tile(t tlog.Tile) ([]byte, bool) {
	// The requested width, or any wider tile at the same place: stored
	// hashes never change once written.
	for w := t.W; w <= 1<<t.H; w++ {
		u := t
		u.W = w
		path := u.Path()
		if data, ok := p.tiles[path]; ok {
			return data, true
		}
		if p.dir != "" {
			if data, err := os.ReadFile(filepath.Join(p.dir, filepath.FromSlash(path))); err == nil {
				return data, true
			}
		}
	}
	return nil, false
}

// ReadHashes implements tlog.HashReader.
func (p *tilePool) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, x := range indexes {
		t := tlog.TileForIndex(tileHeight, x)
		data, ok := p.tile(t)
		if !ok {
			return nil, fmt.Errorf("no tile holds hash %d (%s)", x, t.Path())
		}
		full := t
		full.W = len(data) / tlog.HashSize
		h, err := tlog.HashFromTile(full, data, x)
		if err != nil {
			return nil, err
		}
		out[i] = h
	}
	return out, nil
}

// recordingTiles is a tlog.TileReader that notes every tile read, so that
// export can ship exactly the tiles a proof needs.
type recordingTiles struct {
	read func(t tlog.Tile) ([]byte, error)
	got  map[string][]byte
}

func (r *recordingTiles) Height() int { return tileHeight }

func (r *recordingTiles) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		data, err := r.read(t)
		if err != nil {
			return nil, err
		}
		out[i] = data
	}
	return out, nil
}

// SaveTiles is called by tlog.TileHashReader once the tiles verified
// against the tree: only then are they kept.
func (r *recordingTiles) SaveTiles(tiles []tlog.Tile, data [][]byte) {
	for i, t := range tiles {
		r.got[t.Path()] = data[i]
	}
}

// validTilePath reports whether a bundle entry name is a tile of height 8.
func validTilePath(p string) (tlog.Tile, bool) {
	t, err := tlog.ParseTilePath(p)
	if err != nil || t.H != tileHeight || t.L < 0 || t.Path() != p {
		return tlog.Tile{}, false
	}
	return t, true
}

// parseInt64 is strconv.ParseInt for manifest fields.
func parseInt64(s string) (int64, error) { return strconv.ParseInt(strings.TrimSpace(s), 10, 64) }
