// Package vulndb reads an offline copy of a vulnerability database in the
// Go vulnerability database format (index/modules.json plus one OSV entry
// per vulnerability in ID/<id>.json) and answers which known
// vulnerabilities affect a module version.
package vulndb

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/mod/semver"
)

// A Vuln is one vulnerability as far as matching needs it.
type Vuln struct {
	ID       string
	Aliases  []string
	Summary  string
	Severity Severity // Unknown when the entry carries none
	ranges   []osvRange
}

// DB is an in-memory, read-only view of a database directory: for each
// module path, the vulnerabilities that name it.
type DB struct {
	Dir     string
	modules map[string][]*Vuln
	count   int
}

// idRE is what an entry ID may look like; it becomes a file name.
var idRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$`)

// maxEntry bounds one OSV file; real entries are a few KiB.
const maxEntry = 4 << 20

// Open loads the database in dir. Every entry the index names must exist
// and parse, so a half-copied database is refused as a whole.
func Open(dir string) (*DB, error) {
	idx, err := readFile(filepath.Join(dir, "index", "modules.json"), 256<<20)
	if err != nil {
		return nil, err
	}
	var mods []struct {
		Path  string `json:"path"`
		Vulns []struct {
			ID string `json:"id"`
		} `json:"vulns"`
	}
	if err := json.Unmarshal(idx, &mods); err != nil {
		return nil, fmt.Errorf("vulndb: %s: index/modules.json: %v", dir, err)
	}
	db := &DB{Dir: dir, modules: map[string][]*Vuln{}}
	entries := map[string]*osvEntry{}
	for _, m := range mods {
		for _, v := range m.Vulns {
			e, ok := entries[v.ID]
			if !ok {
				if !idRE.MatchString(v.ID) {
					return nil, fmt.Errorf("vulndb: %s: index names an invalid id %q", dir, v.ID)
				}
				if e, err = readEntry(dir, v.ID); err != nil {
					return nil, err
				}
				entries[v.ID] = e
			}
			if vu := e.vulnFor(m.Path); vu != nil {
				db.modules[m.Path] = append(db.modules[m.Path], vu)
			}
		}
	}
	db.count = len(entries)
	return db, nil
}

// Len returns the number of entries loaded.
func (db *DB) Len() int { return db.count }

// Has reports whether any entry names modPath.
func (db *DB) Has(modPath string) bool { return db != nil && len(db.modules[modPath]) > 0 }

// Affecting returns the vulnerabilities that affect modPath at version, in ID order.
func (db *DB) Affecting(modPath, version string) []*Vuln {
	if db == nil {
		return nil
	}
	var out []*Vuln
	for _, v := range db.modules[modPath] {
		if affects(v.ranges, version) {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func readFile(name string, limit int64) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("vulndb: cannot read %s: %v", name, pe.Err)
		}
		return nil, fmt.Errorf("vulndb: %v", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("vulndb: %v", err)
	}
	if st.Size() > limit {
		return nil, fmt.Errorf("vulndb: %s is larger than %d bytes", name, limit)
	}
	data := make([]byte, st.Size())
	if _, err := f.ReadAt(data, 0); err != nil && st.Size() > 0 {
		return nil, fmt.Errorf("vulndb: reading %s: %v", name, err)
	}
	return data, nil
}

// osvEntry is the part of an OSV entry (https://ossf.github.io/osv-schema/)
// that matching needs.
type osvEntry struct {
	ID       string   `json:"id"`
	Aliases  []string `json:"aliases"`
	Summary  string   `json:"summary"`
	Severity []struct {
		Type  string `json:"type"`
		Score string `json:"score"`
	} `json:"severity"`
	Affected []struct {
		Package struct {
			Name      string `json:"name"`
			Ecosystem string `json:"ecosystem"`
		} `json:"package"`
		Ranges   []osvRange `json:"ranges"`
		Severity []struct {
			Type  string `json:"type"`
			Score string `json:"score"`
		} `json:"severity"`
	} `json:"affected"`
	DatabaseSpecific struct {
		Severity string `json:"severity"`
	} `json:"database_specific"`
}

type osvRange struct {
	Type   string     `json:"type"`
	Events []osvEvent `json:"events"`
}

type osvEvent struct {
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
}

func readEntry(dir, id string) (*osvEntry, error) {
	name := filepath.Join(dir, "ID", id+".json")
	data, err := readFile(name, maxEntry)
	if err != nil {
		return nil, err
	}
	var e osvEntry
	if err := json.Unmarshal(data, &e); err != nil {
		return nil, fmt.Errorf("vulndb: ID/%s.json: %v", id, err)
	}
	if e.ID != id {
		return nil, fmt.Errorf("vulndb: ID/%s.json holds entry %q", id, e.ID)
	}
	for _, a := range e.Affected {
		for _, r := range a.Ranges {
			if r.Type != "SEMVER" {
				continue
			}
			for _, ev := range r.Events {
				for _, s := range []string{ev.Introduced, ev.Fixed, ev.LastAffected} {
					if s != "" && s != "0" && !semver.IsValid("v"+s) {
						return nil, fmt.Errorf("vulndb: ID/%s.json: %q is not a semantic version", id, s)
					}
				}
			}
		}
	}
	return &e, nil
}

// vulnFor returns the vulnerability as it affects modPath, or nil if the
// entry does not name that module after all.
func (e *osvEntry) vulnFor(modPath string) *Vuln {
	v := &Vuln{ID: e.ID, Aliases: e.Aliases, Summary: e.Summary}
	found := false
	sev := ParseSeverity(e.DatabaseSpecific.Severity)
	for _, s := range e.Severity {
		sev = max(sev, severityFromScore(s.Type, s.Score))
	}
	for _, a := range e.Affected {
		if a.Package.Name != modPath {
			continue
		}
		found = true
		v.ranges = append(v.ranges, a.Ranges...)
		for _, s := range a.Severity {
			sev = max(sev, severityFromScore(s.Type, s.Score))
		}
	}
	if !found {
		return nil
	}
	v.Severity = sev
	return v
}

// affects reports whether version lies in any SEMVER range, with the
// semantics of OSV (and of golang.org/x/vuln): no ranges at all means
// every version is affected.
func affects(ranges []osvRange, version string) bool {
	if len(ranges) == 0 {
		return true
	}
	semverRanges := false
	for _, r := range ranges {
		if r.Type != "SEMVER" {
			continue
		}
		semverRanges = true
		if inRange(r.Events, version) {
			return true
		}
	}
	return !semverRanges
}

// inRange walks the range's events in version order: an introduced event
// at or below version opens it, a fixed event at or below (or a
// last_affected below) version closes it.
func inRange(events []osvEvent, version string) bool {
	evs := append([]osvEvent(nil), events...)
	key := func(e osvEvent) string {
		s := e.Introduced + e.Fixed + e.LastAffected
		if s == "0" {
			return ""
		}
		return "v" + s
	}
	sort.SliceStable(evs, func(i, j int) bool {
		a, b := key(evs[i]), key(evs[j])
		if a == "" || b == "" {
			return a == "" && b != ""
		}
		return semver.Compare(a, b) < 0
	})
	affected := false
	for _, e := range evs {
		switch {
		case !affected && e.Introduced != "":
			affected = e.Introduced == "0" || semver.Compare(version, "v"+e.Introduced) >= 0
		case affected && e.Fixed != "":
			affected = semver.Compare(version, "v"+e.Fixed) < 0
		case affected && e.LastAffected != "":
			affected = semver.Compare(version, "v"+e.LastAffected) <= 0
		}
	}
	return affected
}

// Severity is a qualitative rating, ordered.
type Severity int

const (
	Unknown Severity = iota
	Low
	Medium
	High
	Critical
)

func (s Severity) String() string {
	return [...]string{"unknown", "low", "medium", "high", "critical"}[s]
}

// ParseSeverity reads a rating as databases write it (GitHub's MODERATE is
// medium); anything else is Unknown.
func ParseSeverity(s string) Severity {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "low":
		return Low
	case "medium", "moderate":
		return Medium
	case "high":
		return High
	case "critical":
		return Critical
	}
	return Unknown
}
