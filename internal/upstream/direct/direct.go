// Package direct fetches private modules from their own version control,
// as the go command would with GOPROXY=direct: it runs `go mod download`
// and `go list -m` in a child process with a throwaway GOPATH and module
// cache, a clean environment, credentials from gatehouse's config, and a
// network that reaches only the hosts listed for direct fetching.
package direct

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"
	"golang.org/x/mod/sumdb/dirhash"

	"github.com/gatehouse-dev/gatehouse/internal/flight"
	"github.com/gatehouse-dev/gatehouse/internal/slots"
	"github.com/gatehouse-dev/gatehouse/internal/spelling"
	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// Options configures a Source.
type Options struct {
	// Private is the GOPRIVATE-style pattern list of the modules fetched here.
	Private string
	// Hosts may be contacted; nothing else may.
	Hosts   Hosts
	TempDir string // work directories go here (0700)
	// Timeout bounds one child command; MaxFetches child commands run at once.
	Timeout    time.Duration
	MaxFetches int
	// Owner names who a fetch is for (the identity of the request whose
	// context it runs in; "" for none). One owner runs at most PerOwner
	// child commands at once (0: half of MaxFetches, at least 1) and may
	// have at most QueuePerOwner more waiting (0: 64); beyond that a fetch
	// fails with a *slots.BusyError (429). nil: every fetch is owner "".
	Owner         func(context.Context) string
	PerOwner      int
	QueuePerOwner int
	Creds         Credentials
	// Getenv reads gatehouse's own environment, for what the child must
	// inherit (PATH, CA certificates) and the parent proxy. nil: os.Getenv.
	Getenv func(string) string
	// Reuse keeps a downloaded version for this long, so that the .info,
	// .mod and .zip requests of one client cost one download. 0: 1 minute.
	Reuse time.Duration
	// ParentProxy is the proxy the egress proxy goes out through; nil:
	// gatehouse's HTTPS_PROXY environment (http.ProxyFromEnvironment).
	ParentProxy func(*http.Request) (*url.URL, error)
	Logger      *slog.Logger
}

// Source is an upstream.Source for private modules.
type Source struct {
	opts   Options
	log    *slog.Logger
	egress *Egress
	home   string // the child's HOME: .netrc, .gitconfig, ssh config
	env    []string
	slots  *slots.Pool
	group  flight.Group

	mu     sync.Mutex
	recent map[string]*download // "path@version" → a download to reuse
}

// download is the result of one `go mod download` of a version.
type download struct {
	dir          string // work dir holding the files; removed on eviction
	info, mod    []byte
	zip          string // file name
	zipH1, modH1 string
	expires      time.Time
}

// New starts the egress proxy and prepares the child's home directory.
func New(opts Options) (*Source, error) {
	if opts.Getenv == nil {
		opts.Getenv = os.Getenv
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 5 * time.Minute
	}
	if opts.MaxFetches <= 0 {
		opts.MaxFetches = 4
	}
	if opts.PerOwner <= 0 {
		opts.PerOwner = max(1, opts.MaxFetches/2)
	}
	if opts.QueuePerOwner <= 0 {
		opts.QueuePerOwner = 64
	}
	if opts.Owner == nil {
		opts.Owner = func(context.Context) string { return "" }
	}
	if opts.Reuse == 0 {
		opts.Reuse = time.Minute
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if err := os.MkdirAll(opts.TempDir, 0o700); err != nil {
		return nil, err
	}
	s := &Source{opts: opts, log: opts.Logger, slots: slots.New(opts.MaxFetches, opts.PerOwner, opts.QueuePerOwner), recent: map[string]*download{}}
	s.egress = &Egress{Hosts: opts.Hosts, Proxy: opts.ParentProxy, Logger: opts.Logger, Timeout: opts.Timeout}
	proxyURL, err := s.egress.Start()
	if err != nil {
		return nil, err
	}
	home, err := os.MkdirTemp(opts.TempDir, "home-")
	if err != nil {
		s.egress.Close()
		return nil, err
	}
	s.home = home
	if s.env, err = childEnv(opts, home, proxyURL); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the egress proxy and removes work files.
func (s *Source) Close() error {
	s.mu.Lock()
	for k, d := range s.recent {
		os.RemoveAll(d.dir)
		delete(s.recent, k)
	}
	s.mu.Unlock()
	err := s.egress.Close()
	os.RemoveAll(s.home)
	return err
}

// RefusedError is a request gatehouse will not even try: the module's host
// is not on the direct-fetch list. It is answered with 403, so the go
// command does not fall through to another source.
type RefusedError struct{ Path string }

func (e *RefusedError) Error() string {
	host, _, _ := strings.Cut(e.Path, "/")
	return fmt.Sprintf("%s is private and its host %s is not on this proxy's direct-fetch list (private_hosts)", e.Path, host)
}

func (e *RefusedError) HTTPStatus() int { return 403 }

// checkArgs refuses anything that must not reach a child command: invalid
// or option-like paths, non-canonical versions, hosts not on the list.
func (s *Source) checkArgs(path, version string) error {
	if err := module.CheckPath(path); err != nil || strings.HasPrefix(path, "-") {
		return fmt.Errorf("%w: invalid module path", upstream.ErrNotFound)
	}
	// lib.git.git is only ever another name for the repository lib.
	if spelling.Alias(path) {
		return fmt.Errorf("%w: %s is another spelling of a repository's path", upstream.ErrNotFound, path)
	}
	if version != "" && (!semver.IsValid(version) || module.CanonicalVersion(version) != version) {
		return fmt.Errorf("%w: invalid version", upstream.ErrNotFound)
	}
	host, _, _ := strings.Cut(path, "/")
	if !s.opts.Hosts.Allows(host) {
		s.log.Warn("private fetch refused: host not on the direct-fetch list", "module", path)
		return &RefusedError{Path: path}
	}
	return nil
}

// List returns the module's tagged versions.
func (s *Source) List(ctx context.Context, path string) ([]string, error) {
	out, err := s.queryLatest(ctx, "list", path, "-versions")
	if err != nil {
		return nil, err
	}
	return out.Versions, nil
}

// Latest returns the .info of @latest.
func (s *Source) Latest(ctx context.Context, path string) ([]byte, error) {
	out, err := s.queryLatest(ctx, "latest", path)
	if err != nil {
		return nil, err
	}
	return infoJSON(out.Version, out.Time, nil)
}

// latestResult is what go list -m -json says of path@latest.
type latestResult struct {
	Version  string
	Versions []string
	Time     *time.Time
	GoMod    string // the go.mod file in the child's module cache
	Error    *struct{ Err string }
}

// queryLatest runs go list -m -json (with args) for path@latest and checks
// the go.mod of the version it resolves to, as a download would: a list or
// @latest under a spelling the repository does not answer to is refused
// like one for a module that does not exist.
func (s *Source) queryLatest(ctx context.Context, op, path string, args ...string) (*latestResult, error) {
	if err := s.checkArgs(path, ""); err != nil {
		return nil, err
	}
	work, err := os.MkdirTemp(s.opts.TempDir, "q-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	var out latestResult
	cmd := append(append([]string{"list", "-m", "-json"}, args...), "--", path+"@latest")
	if err := s.goJSONIn(ctx, work, &out, cmd...); err != nil {
		return nil, err
	}
	if out.Error != nil {
		return nil, s.childError(op, path, out.Error.Err)
	}
	if !inside(work, out.GoMod) {
		return nil, fmt.Errorf("go list reported no go.mod in its module cache for %s@latest", path)
	}
	mod, err := os.ReadFile(out.GoMod)
	if err != nil {
		return nil, fmt.Errorf("reading the go.mod of %s@latest: %w", path, err)
	}
	if err := s.checkDeclared(path, out.Version, mod); err != nil {
		return nil, err
	}
	return &out, nil
}

// origin is the part of the go command's Origin block that is safe to
// serve: the commit hash (the policy decides a pseudo-version as the tags
// of the same commit) and the ref, but not the repository's URL.
type origin struct {
	VCS  string `json:",omitempty"`
	Hash string `json:",omitempty"`
	Ref  string `json:",omitempty"`
}

// infoJSON writes .info with Version, Time and the commit of Origin: the
// whole Origin block the go command records would tell clients the
// private repository's URL.
func infoJSON(version string, t *time.Time, o *origin) ([]byte, error) {
	info := map[string]any{"Version": version}
	if t != nil {
		info["Time"] = t.UTC().Format(time.RFC3339)
	}
	if o != nil && o.Hash != "" {
		info["Origin"] = origin{VCS: o.VCS, Hash: o.Hash, Ref: o.Ref}
	}
	return json.Marshal(info)
}

func (s *Source) Info(ctx context.Context, path, version string) ([]byte, error) {
	d, err := s.download(ctx, path, version)
	if err != nil {
		return nil, err
	}
	return d.info, nil
}

func (s *Source) GoMod(ctx context.Context, path, version string) ([]byte, error) {
	d, err := s.download(ctx, path, version)
	if err != nil {
		return nil, err
	}
	return d.mod, nil
}

func (s *Source) Zip(ctx context.Context, path, version string) (io.ReadCloser, error) {
	d, err := s.download(ctx, path, version)
	if err != nil {
		return nil, err
	}
	return os.Open(d.zip) // stays readable even if evicted meanwhile
}

// Hashes returns the h1 hashes of the version's zip and go.mod as its
// source serves them now.
func (s *Source) Hashes(ctx context.Context, path, version string) (zipH1, modH1 string, err error) {
	d, err := s.download(ctx, path, version)
	if err != nil {
		return "", "", err
	}
	return d.zipH1, d.modH1, nil
}

// download runs `go mod download` for path@version once, or reuses a
// recent download.
func (s *Source) download(ctx context.Context, path, version string) (*download, error) {
	if err := s.checkArgs(path, version); err != nil {
		return nil, err
	}
	key := path + "@" + version
	s.mu.Lock()
	s.evictLocked(time.Now())
	d := s.recent[key]
	s.mu.Unlock()
	if d != nil {
		return d, nil
	}
	// The .info, .mod and .zip requests of a version share one download;
	// one that is still waiting for a slot when they have all gone is dropped.
	// Each owner waits for its own: a download waits in its starter's fair
	// share of the slots, and one joined from another owner would wait
	// behind the starter's backlog. A finished one (recent) is anyone's.
	v, err := s.group.Do(ctx, key+"\x00"+s.opts.Owner(ctx), func(ctx context.Context) (any, error) {
		d, err := s.fetch(ctx, path, version)
		if err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.recent[key] = d
		s.mu.Unlock()
		return d, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*download), nil
}

func (s *Source) evictLocked(now time.Time) {
	for k, d := range s.recent {
		if now.After(d.expires) || len(s.recent) > 64 {
			os.RemoveAll(d.dir)
			delete(s.recent, k)
		}
	}
}

func (s *Source) fetch(ctx context.Context, path, version string) (*download, error) {
	work, err := os.MkdirTemp(s.opts.TempDir, "dl-")
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(work)
		}
	}()
	var out struct {
		Version, Info, GoMod, Zip string
		Error                     string
	}
	if err := s.goJSONIn(ctx, work, &out, "mod", "download", "-json", "--", path+"@"+version); err != nil {
		return nil, err
	}
	if out.Error != "" {
		return nil, s.childError("download", path+"@"+version, out.Error)
	}
	if out.Version != version {
		return nil, fmt.Errorf("%w: %s@%s resolved to %s", upstream.ErrNotFound, path, version, out.Version)
	}
	d := &download{dir: work, zip: out.Zip, expires: time.Now().Add(s.opts.Reuse)}
	// The files must be inside the work dir: the child's output is data.
	for _, f := range []string{out.Info, out.GoMod, out.Zip} {
		if !inside(work, f) {
			return nil, fmt.Errorf("go mod download reported a file outside its module cache")
		}
	}
	var info struct {
		Version string
		Time    *time.Time
		Origin  *origin
	}
	data, err := os.ReadFile(out.Info)
	if err == nil {
		err = json.Unmarshal(data, &info)
	}
	if err != nil {
		return nil, fmt.Errorf("reading downloaded .info: %w", err)
	}
	if d.info, err = infoJSON(version, info.Time, info.Origin); err != nil {
		return nil, err
	}
	if d.mod, err = os.ReadFile(out.GoMod); err != nil {
		return nil, err
	}
	if err := s.checkDeclared(path, version, d.mod); err != nil {
		return nil, err
	}
	if d.zipH1, err = dirhash.HashZip(out.Zip, dirhash.Hash1); err != nil {
		return nil, fmt.Errorf("hashing downloaded zip: %w", err)
	}
	mod := d.mod
	if d.modH1, err = dirhash.Hash1([]string{"go.mod"}, func(string) (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(mod)), nil
	}); err != nil {
		return nil, err
	}
	ok = true
	return d, nil
}

// inside reports whether file is a path under dir (the child's output is
// data, not to be trusted with file names).
func inside(dir, file string) bool {
	rel, err := filepath.Rel(dir, file)
	return file != "" && err == nil && rel != "." && !strings.HasPrefix(rel, "..")
}

// checkDeclared refuses, as not found, a version whose go.mod does not
// vouch for path. go mod download and go list do not check the module
// line, so another spelling of a repository's path (lib.git for lib, other
// case on a host that ignores it) would serve its code under a name the
// access and policy rules do not cover; the go command refuses such a
// module only later, in a build. For a commit without a go.mod the go
// command synthesizes "module <path as asked>", which matches any
// spelling: it vouches only for a path without a VCS suffix.
func (s *Source) checkDeclared(path, version string, mod []byte) error {
	declared := modfile.ModulePath(mod)
	if declared != path {
		s.log.Warn("private fetch: go.mod declares another module path; not served", "module", path, "version", version, "declared", declared)
		return fmt.Errorf("%w: %s@%s: its go.mod declares module path %q", upstream.ErrNotFound, path, version, declared)
	}
	if synthesized(path, mod) && !spelling.Plain(path) {
		s.log.Warn("private fetch: no go.mod, and a path with a VCS suffix needs one to say it is the module's name; not served", "module", path, "version", version)
		return fmt.Errorf("%w: %s@%s: no go.mod names this spelling of the repository", upstream.ErrNotFound, path, version)
	}
	return nil
}

// synthesized reports whether mod is what the go command writes for a
// commit without a go.mod (modfetch.LegacyGoMod): the module line alone.
// A real go.mod has at least a go line too since Go 1.12's go mod init.
func synthesized(path string, mod []byte) bool {
	return string(mod) == "module "+modfile.AutoQuote(path)+"\n"
}

// goJSONIn runs go with args in work (its GOPATH, module cache and build
// cache live there), holding one of its owner's fetch slots, within the
// timeout. Once the child starts, the fetch runs to its end even if its
// client leaves, so that the result is stored for the next request.
func (s *Source) goJSONIn(ctx context.Context, work string, out any, args ...string) error {
	release, err := s.slots.Acquire(ctx, s.opts.Owner(ctx))
	if err != nil {
		var busy *slots.BusyError
		if errors.As(err, &busy) {
			s.log.Warn("private fetch refused: too many waiting for one identity", "owner", busy.Owner, "waiting", busy.MaxQueued)
			return err
		}
		return fmt.Errorf("waiting for a private fetch slot: %w", err)
	}
	defer release()
	flight.Start(ctx)
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	goBin, err := exec.LookPath("go")
	if err != nil {
		if p := s.opts.Getenv("PATH"); p != "" {
			goBin, err = lookPathIn("go", p)
		}
		if err != nil {
			return errors.New("the go command is not installed; private modules need it")
		}
	}
	cmd := exec.CommandContext(ctx, goBin, args...)
	cmd.Dir = work
	cmd.Env = append(append([]string{}, s.env...),
		"GOPATH="+filepath.Join(work, "gopath"),
		"GOMODCACHE="+filepath.Join(work, "modcache"),
		"GOCACHE="+filepath.Join(work, "gocache"),
		"TMPDIR="+work,
	)
	// The child's own children (git, ssh) die with it on timeout.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = 16<<20, 64<<10
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	runErr := cmd.Run()
	// Make the module cache removable (it is read-only by default).
	filepath.WalkDir(work, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	s.log.Debug("private fetch", "args", strings.Join(args, " "), "duration", time.Since(start).Round(time.Millisecond), "err", runErr)
	if ctx.Err() != nil {
		return fmt.Errorf("private fetch (go %s) ran out of time: %w", args[0], context.DeadlineExceeded)
	}
	// go mod download and go list -json report module errors in the JSON
	// and exit 1; decode first, and only fail if there is nothing to decode.
	if derr := json.Unmarshal(stdout.Bytes(), out); derr != nil {
		if runErr != nil {
			return s.childError(args[0], strings.Join(args[len(args)-1:], ""), stderr.String())
		}
		return fmt.Errorf("decoding go %s output: %v", args[0], derr)
	}
	return nil
}

// childError turns a child's error text into an error for the log: secrets
// removed, not-found recognised. Clients never see it (private routes hide
// upstream details), but the log does.
func (s *Source) childError(op, what, msg string) error {
	msg = s.opts.Creds.Redact(strings.TrimSpace(msg))
	if s.egress != nil && s.egress.Secret() != "" {
		msg = strings.ReplaceAll(msg, s.egress.Secret(), "[REDACTED]")
	}
	if len(msg) > 2000 {
		msg = msg[:2000] + "…"
	}
	lower := strings.ToLower(msg)
	// Failures to reach or authenticate to the source are not "not found":
	// the go command must not fall through to another source on them.
	for _, fail := range []string{"tunnel failed", "could not resolve", "connection refused", "timed out", "terminal prompts disabled", "authentication failed"} {
		if strings.Contains(lower, fail) {
			return fmt.Errorf("private fetch (%s) %s failed: %s", op, what, msg)
		}
	}
	if deniedRE.MatchString(msg) {
		return fmt.Errorf("private fetch (%s) %s failed: %s", op, what, msg)
	}
	// "no secure protocol found": no scheme reached a repository at a
	// VCS-qualified path. That is what a missing repository gets, unless a
	// host could not be reached just now: then it is an outage.
	if strings.Contains(lower, "no secure protocol found") && s.egress != nil && s.egress.dialFailedWithin(time.Minute) {
		return fmt.Errorf("private fetch (%s) %s failed (a private host was unreachable): %s", op, what, msg)
	}
	for _, nf := range []string{"no secure protocol found", "unknown revision", "no matching versions", "not found", "invalid version", "does not contain package", "repository not found", "malformed module path"} {
		if strings.Contains(lower, nf) {
			return fmt.Errorf("%w: private fetch (%s) %s: %s", upstream.ErrNotFound, op, what, msg)
		}
	}
	if notFoundRE.MatchString(msg) {
		return fmt.Errorf("%w: private fetch (%s) %s: %s", upstream.ErrNotFound, op, what, msg)
	}
	return fmt.Errorf("private fetch (%s) %s failed: %s", op, what, msg)
}

// deniedRE and notFoundRE find an HTTP status in a child's message as a
// word of its own, not part of a port (":40312"), a version ("v1.403.0"),
// a path element ("team-401") or a commit hash ("401abc").
var (
	deniedRE   = regexp.MustCompile(`(^|[\s(])40[13]\b`)
	notFoundRE = regexp.MustCompile(`(^|[\s(])404\b`)
)

type limitedBuffer struct {
	bytes.Buffer
	max int
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room > 0 {
		b.Buffer.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func lookPathIn(name, pathList string) (string, error) {
	for _, dir := range filepath.SplitList(pathList) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}
