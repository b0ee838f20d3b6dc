package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// A Ledger remembers the hashes of module versions for good: gatehouse's
// own checksum log. The first hashes added for a version are the ones that
// count; later Adds return them unchanged.
type Ledger interface {
	Name() string
	Lookup(path, version string) (zipH1, modH1 string, ok bool)
	Add(path, version, zipH1, modH1 string) (recordedZip, recordedMod string, err error)
}

// FirstSeen is the Checker of private modules: the hashes of the first
// download of a version are recorded in the ledger, and any later download
// must match them. A moved tag is therefore refused, not served.
type FirstSeen struct {
	Ledger Ledger
	// Hashes returns the source's hashes of path@version (zip and go.mod),
	// for a version the ledger has not recorded yet.
	Hashes func(ctx context.Context, path, version string) (zipH1, modH1 string, err error)
	Logger *slog.Logger
}

func (f *FirstSeen) Check(ctx context.Context, path, version, h1 string) error {
	vers, isMod := strings.CutSuffix(version, "/go.mod")
	zipH1, modH1, ok := f.Ledger.Lookup(path, vers)
	if !ok {
		z, m, err := f.Hashes(ctx, path, vers)
		if err != nil {
			return &UnverifiedError{Path: path, Version: vers, Authority: f.Ledger.Name(), Err: err}
		}
		if zipH1, modH1, err = f.Ledger.Add(path, vers, z, m); err != nil {
			return &UnverifiedError{Path: path, Version: vers, Authority: f.Ledger.Name(), Err: err}
		}
	}
	return compareRecorded(f.Ledger.Name(), f.Logger, path, vers, isMod, h1, zipH1, modH1)
}

func compareRecorded(name string, log *slog.Logger, path, vers string, isMod bool, h1, zipH1, modH1 string) error {
	want, what := zipH1, "zip"
	if isMod {
		want, what = modH1, "go.mod"
	}
	if h1 == want {
		return nil
	}
	if log == nil {
		log = slog.Default()
	}
	log.Error("SECURITY: source served different content for a version already in the checksum log (moved tag?); refused, the original is kept",
		"module", path, "version", vers, "file", what, "recorded", want, "downloaded", h1, "log", name)
	authority := "checksum log " + name
	if isMod {
		authority += " (go.mod)"
	}
	return &MismatchError{Path: path, Version: vers, Got: h1, Want: want, Authority: authority,
		Hint: "The source now serves other content for this version (a moved tag?); it was refused and the first content is kept."}
}

// Recorded is the Checker of public modules when gatehouse keeps its own
// log: a version is verified against the upstream checksum database once,
// then its hashes (both of them, as the database has them) are added to
// the ledger, which answers for it from then on.
type Recorded struct {
	Upstream *SumDB
	Ledger   Ledger
	Logger   *slog.Logger
}

func (r *Recorded) Check(ctx context.Context, path, version, h1 string) error {
	vers, isMod := strings.CutSuffix(version, "/go.mod")
	if zipH1, modH1, ok := r.Ledger.Lookup(path, vers); ok {
		return compareRecorded(r.Ledger.Name(), r.Logger, path, vers, isMod, h1, zipH1, modH1)
	}
	if err := r.Upstream.Check(ctx, path, version, h1); err != nil {
		return err
	}
	if r.Upstream.Skipped(path) {
		return nil // nothing vouches for it, so the ledger does not either
	}
	if err := r.Record(ctx, path, vers); err != nil {
		// Verified, so it may be served; a later lookup adds it again.
		r.log().Warn("verified, but not added to the checksum log", "module", path, "version", vers, "err", err)
	}
	return nil
}

// Record adds path@version to the ledger with the hashes the upstream
// checksum database holds for it (verified by inclusion proof).
func (r *Recorded) Record(ctx context.Context, path, version string) error {
	if r.Upstream.Skipped(path) {
		return fmt.Errorf("%w: %s@%s is exempt from checksum verification (nosumdb), so the log cannot vouch for it", ErrNoRecord, path, version)
	}
	zipH1, modH1, err := r.Upstream.Hashes(ctx, path, version)
	if err != nil {
		return err
	}
	_, _, err = r.Ledger.Add(path, version, zipH1, modH1)
	return err
}

func (r *Recorded) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// ErrNoRecord means the checksum database has no record of a version.
var ErrNoRecord = errors.New("no record in the checksum database")

// Hashes returns the zip and go.mod hashes the database records for
// path@version, each verified by its inclusion in the signed log.
func (s *SumDB) Hashes(ctx context.Context, path, version string) (zipH1, modH1 string, err error) {
	get := func(vers string) (string, error) {
		lines, err := s.lookup(path, vers)
		if err != nil {
			if msg := s.ops.lastSecurityError(); msg != "" {
				return "", &SecurityError{Name: s.name, Msg: msg}
			}
			if strings.Contains(err.Error(), "404 Not Found") || strings.Contains(err.Error(), "410 Gone") {
				return "", fmt.Errorf("%w: %v", ErrNoRecord, err)
			}
			return "", &UnverifiedError{Path: path, Version: version, Authority: s.name, Err: err}
		}
		prefix := path + " " + vers + " "
		for _, line := range lines {
			if h, ok := strings.CutPrefix(line, prefix); ok {
				return h, nil
			}
		}
		return "", fmt.Errorf("%w for %s %s", ErrNoRecord, path, vers)
	}
	if zipH1, err = get(version); err != nil {
		return "", "", err
	}
	if modH1, err = get(version + "/go.mod"); err != nil {
		return "", "", err
	}
	return zipH1, modH1, nil
}
