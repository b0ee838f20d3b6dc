package verify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/sumdb"

	"github.com/gatehouse-dev/gatehouse/internal/atomicfile"
	"github.com/gatehouse-dev/gatehouse/internal/retry"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// KnownKeys are the verifier keys of public checksum databases that cmd/go
// knows by name (cmd/go/internal/modfetch/key.go).
var KnownKeys = map[string]string{
	"sum.golang.org": "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8",
}

// SumDBOptions configures a SumDB checker.
type SumDBOptions struct {
	// Key is the GOSUMDB value: a known name or a verifier key ("name+hash+key").
	Key string
	// URL is where the database is served, e.g. https://proxy.golang.org/sumdb/sum.golang.org.
	URL string
	// StateDir keeps the latest verified tree head and cached tiles, so a
	// log that was rolled back or forked is detected across restarts.
	StateDir string
	// NoSumDB lists GONOSUMDB-style patterns that are not checked at all.
	NoSumDB []string
	Client  *http.Client
	Timeout time.Duration // per remote read; 0 means 30s
	Logger  *slog.Logger
}

// SumDB is a Checker backed by a checksum database such as sum.golang.org.
type SumDB struct {
	name    string
	client  atomic.Pointer[sumdb.Client] // see lookup
	ops     *clientOps
	noSumDB string
	log     *slog.Logger
}

// NewSumDB returns a Checker for the checksum database described by opts.
func NewSumDB(opts SumDBOptions) (*SumDB, error) {
	vkey := opts.Key
	if k, ok := KnownKeys[opts.Key]; ok {
		vkey = k
	}
	name, _, ok := strings.Cut(vkey, "+")
	if !ok {
		return nil, fmt.Errorf("checksum database %q: no verifier key known; give name+key", opts.Key)
	}
	if opts.URL == "" {
		return nil, fmt.Errorf("checksum database %s: no URL", name)
	}
	if err := os.MkdirAll(opts.StateDir, 0o700); err != nil {
		return nil, err
	}
	if opts.Client == nil {
		opts.Client = http.DefaultClient
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	ops := &clientOps{
		name: name, vkey: vkey, url: strings.TrimSuffix(opts.URL, "/"),
		dir: opts.StateDir, client: opts.Client, timeout: opts.Timeout, log: opts.Logger,
	}
	c := sumdb.NewClient(ops)
	s := &SumDB{name: name, ops: ops, noSumDB: strings.Join(opts.NoSumDB, ","), log: opts.Logger}
	s.client.Store(c)
	return s, nil
}

// Name returns the database's name, e.g. "sum.golang.org".
func (s *SumDB) Name() string { return s.name }

// Skipped reports whether path is exempt from checking by NoSumDB.
func (s *SumDB) Skipped(path string) bool {
	return s.noSumDB != "" && module.MatchPrefixPatterns(s.noSumDB, path)
}

// Check looks path@version up in the checksum database (verifying the
// record's inclusion in the signed log) and compares hashes.
func (s *SumDB) Check(ctx context.Context, path, version, h1 string) error {
	if s.Skipped(path) {
		s.log.Warn("checksum database lookup skipped (nosumdb)", "module", path, "version", version)
		return nil
	}
	lines, err := s.lookup(path, version)
	if err != nil {
		// The client reports ErrSecurity with %v, so it cannot be matched
		// with errors.Is; its SecurityError callback is what tells. The
		// state stays bad: a database that forked is not trusted again.
		if msg := s.ops.lastSecurityError(); msg != "" {
			return &SecurityError{Name: s.name, Msg: msg}
		}
		return &UnverifiedError{Path: path, Version: version, Authority: s.name, Err: err}
	}
	prefix := path + " " + version + " "
	for _, line := range lines {
		if strings.HasPrefix(line, prefix) {
			want := strings.TrimPrefix(line, prefix)
			if want == h1 {
				return nil
			}
			return &MismatchError{Path: path, Version: strings.TrimSuffix(version, "/go.mod"), Got: h1, Want: want, Authority: s.name + mismatchWhat(version)}
		}
	}
	return &UnverifiedError{Path: path, Version: version, Authority: s.name, Err: errors.New("no hash for it in the database")}
}

// lookup asks the database client. The client remembers each lookup's
// result for good, failures too; so after a failure (a version not in the
// database yet, an unreachable database) it is replaced by a fresh one,
// which shares the verified tree head and the kept tiles and lookups on
// disk, and the next lookup of that version asks again. (A lookup started
// early by Warm must not pin a "not found" on a version published since.)
func (s *SumDB) lookup(path, version string) ([]string, error) {
	c := s.client.Load()
	lines, err := c.Lookup(path, version)
	if err != nil {
		s.client.CompareAndSwap(c, sumdb.NewClient(s.ops))
	}
	return lines, err
}

// UnverifiedError means the hash could not be checked: the database was
// unreachable or has no record. The download is refused all the same.
type UnverifiedError struct {
	Path, Version, Authority string
	Err                      error
}

func (e *UnverifiedError) Error() string {
	return fmt.Sprintf("cannot verify %s@%s against checksum database %s: %v", e.Path, strings.TrimSuffix(e.Version, "/go.mod"), e.Authority, e.Err)
}

func (e *UnverifiedError) Unwrap() error { return e.Err }

func mismatchWhat(version string) string {
	if strings.HasSuffix(version, "/go.mod") {
		return " (go.mod)"
	}
	return ""
}

// SecurityError means the checksum database itself misbehaved: its signed
// tree is inconsistent with one verified before (a fork or a rollback).
type SecurityError struct {
	Name string
	Msg  string
}

func (e *SecurityError) Error() string {
	return "SECURITY ERROR: checksum database " + e.Name + " is inconsistent with the tree verified earlier; refusing to verify"
}

// clientOps connects sumdb.Client to HTTP and to files in the state dir.
type clientOps struct {
	name, vkey, url string
	dir             string
	client          *http.Client
	timeout         time.Duration
	log             *slog.Logger

	mu     sync.Mutex // guards the latest file and secMsg
	secMsg string
}

// ReadRemote fetches a tile, lookup or signed tree head, trying again on
// connection errors and 5xx answers within the timeout.
func (o *clientOps) ReadRemote(path string) (data []byte, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	err = retry.Default.Do(ctx, func(ctx context.Context) error {
		data, err = o.readRemoteOnce(ctx, path)
		return err
	}, func(attempt int, wait time.Duration, err error) {
		o.log.Warn("checksum database request failed; trying again", "sumdb", o.name, "upstream", upstream.ShownString(o.url), "path", path, "attempt", attempt, "wait", wait.Round(time.Millisecond), "err", err)
	})
	return data, err
}

// remoteError is an answer other than 200 from the database.
type remoteError struct {
	path, status, line string
	code               int
}

func (e *remoteError) Error() string       { return fmt.Sprintf("GET %s: %s: %s", e.path, e.status, e.line) }
func (e *remoteError) HTTPStatusCode() int { return e.code }

func (o *clientOps) readRemoteOnce(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", o.url+path, nil)
	if err != nil {
		return nil, fmt.Errorf("GET %s: invalid request", path)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		// The client's *url.Error names the URL, user name included.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		first, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		line, _, _ := strings.Cut(string(first), "\n")
		return nil, &remoteError{path: path, status: resp.Status, line: strings.TrimSpace(line), code: resp.StatusCode}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	return data, nil
}

// latestFile holds the newest signed tree head this gatehouse has verified.
func (o *clientOps) latestFile() string { return filepath.Join(o.dir, "latest") }

func (o *clientOps) ReadConfig(file string) ([]byte, error) {
	if file == "key" {
		return []byte(o.vkey), nil
	}
	if file != o.name+"/latest" {
		return nil, fmt.Errorf("unknown config file %q", file)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	data, err := os.ReadFile(o.latestFile())
	if errors.Is(err, os.ErrNotExist) {
		return []byte{}, nil
	}
	return data, err
}

func (o *clientOps) WriteConfig(file string, old, new []byte) error {
	if file != o.name+"/latest" {
		return fmt.Errorf("unknown config file %q", file)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	cur, err := os.ReadFile(o.latestFile())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if !bytes.Equal(cur, old) {
		return sumdb.ErrWriteConflict
	}
	return atomicfile.Write(o.latestFile(), new, 0o600)
}

// cachePath maps a cache file name ("<name>/tile/8/0/001") to a path in the
// state dir; names come from sumdb.Client, never from a request.
func (o *clientOps) cachePath(file string) (string, bool) {
	rest, ok := strings.CutPrefix(file, o.name+"/")
	if !ok || strings.Contains(rest, "..") {
		return "", false
	}
	return filepath.Join(o.dir, "cache", filepath.FromSlash(rest)), true
}

func (o *clientOps) ReadCache(file string) ([]byte, error) {
	p, ok := o.cachePath(file)
	if !ok {
		return nil, os.ErrNotExist
	}
	return os.ReadFile(p)
}

func (o *clientOps) WriteCache(file string, data []byte) {
	p, ok := o.cachePath(file)
	if !ok {
		return
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err == nil {
		atomicfile.Write(p, data, 0o600)
	}
}

func (o *clientOps) Log(msg string) { o.log.Info("checksum database: " + msg) }

func (o *clientOps) SecurityError(msg string) {
	o.mu.Lock()
	o.secMsg = msg
	o.mu.Unlock()
	o.log.Error("SECURITY ERROR from checksum database client", "sumdb", o.name, "detail", msg)
}

func (o *clientOps) lastSecurityError() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.secMsg
}
