package sumdb

import (
	"net/http"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb/tlog"
)

// serveOfflineLookup answers a lookup from the kept (imported) answer
// only: offline, there is no database to ask.
func (p *Proxy) serveOfflineLookup(w http.ResponseWriter, mod, vers string) bool {
	if p.Verified == nil {
		return false
	}
	escMod, err1 := module.EscapePath(mod)
	escVers, err2 := module.EscapeVersion(vers)
	if err1 != nil || err2 != nil {
		return false
	}
	data, ok := p.Verified.Verified("lookup/" + escMod + "@" + escVers)
	if !ok {
		return false
	}
	w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
	w.Header().Set("Cache-Control", "max-age=3600")
	w.Write(data)
	return true
}

// serveOfflineTile answers a tile from the kept ones: the tile asked for,
// or the start of a wider one at the same place (hashes in a tile never
// change as it fills, so a prefix of a wider tile is the narrower one).
func (p *Proxy) serveOfflineTile(w http.ResponseWriter, t tlog.Tile) {
	if p.Verified != nil {
		for width := t.W; width <= 1<<t.H; width++ {
			u := t
			u.W = width
			data, ok := p.Verified.Verified(u.Path())
			if !ok {
				continue
			}
			size := t.W * tlog.HashSize
			if t.L < 0 || len(data) < size {
				if width == t.W {
					writeTile(w, http.StatusOK, data)
					return
				}
				continue
			}
			writeTile(w, http.StatusOK, data[:size])
			return
		}
	}
	offlineMiss(w, "checksum database tile "+t.Path())
}
