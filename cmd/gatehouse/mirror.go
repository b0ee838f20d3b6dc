package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/module"

	"github.com/gatehouse-dev/gatehouse/internal/airgap"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/datalock"
)

func init() {
	register(&command{name: "mirror", summary: "fill the store with what projects need (build lists, go.sum files, module@version)", run: runMirror})
}

// mirrorResult is one line of `go mod download -json`.
type mirrorResult struct {
	Path, Version, Error string
	Zip, GoMod           string
}

func runMirror(ctx context.Context, env *cmdEnv, args []string) int {
	fs := newFlagSet(env, "mirror", "mirror [serve flags: --data DIR --upstream URL --policy FILE ...] [--jobs N] [--all-versions] [--json] ARG...\n\n"+
		"ARG: a go.mod file or a directory holding one (its whole build list, go.mod-only\n"+
		"versions included), a go.sum file, module@version, module@latest or module@vX.\n"+
		"Everything goes through serve's own fetch, verify and store path (policy included),\n"+
		"by a child go command pointed at it; what is stored already is skipped, so a\n"+
		"rerun resumes. See docs/air-gap.md.")
	jobs := fs.Int("jobs", 8, "upstream fetches in flight at once")
	allVersions := fs.Bool("all-versions", false, "for module@... arguments, every version the upstream lists")
	asJSON := fs.Bool("json", false, "progress and summary as JSON lines on stdout")
	cfg, err := readServeConfigArgs(env, fs, args, true, true)
	if err == errHelpShown {
		return 0
	}
	if err == errBadFlag {
		return 2
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse mirror: %v\n", err)
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(env.stderr, "gatehouse mirror: nothing to mirror; give go.mod files, go.sum files or module@version")
		return 2
	}
	if *jobs < 1 || *jobs > 10000 {
		fmt.Fprintln(env.stderr, "gatehouse mirror: --jobs must be in 1..10000")
		return 2
	}
	if cfg.Offline {
		fmt.Fprintln(env.stderr, "gatehouse mirror: --offline makes no sense here: mirror fetches from the upstream")
		return 2
	}
	cfg.MaxFetches = config.Int(*jobs)
	log := newLogger(env.stderr, string(cfg.LogFormat), "warn")
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lock, err := datalock.Acquire(string(cfg.Data))
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse mirror: %v\n", err)
		return 1
	}
	defer lock.Release()
	// serve itself, on a loopback port of its own for this run.
	srv, err := buildServer(ctx, cfg, log, slog.New(slog.NewTextHandler(io.Discard, nil)), nil, nil)
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse mirror: %v\n", err)
		return 1
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse mirror: %v\n", err)
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ctx, ln, nil, time.Second) }()
	defer func() { cancel(); <-served }()
	proxyURL := "http://" + ln.Addr().String()

	work, err := os.MkdirTemp("", "gatehouse-mirror-")
	if err != nil {
		fmt.Fprintf(env.stderr, "gatehouse mirror: %v\n", err)
		return 1
	}
	defer removeAllWritable(work)
	goEnv := mirrorGoEnv(work, proxyURL, sumDBKey(string(cfg.SumDB)))

	// Each ARG becomes one child go command: a build list in a copy of
	// its go.mod, or module@version queries in an empty directory.
	type job struct {
		dir  string
		args []string
		mods []string // go.mod-only versions (from go.sum), fetched directly
	}
	var jobsList []job
	var queries []string
	for i, a := range fs.Args() {
		switch {
		case strings.Contains(a, "@") && !strings.HasSuffix(a, ".mod") && !strings.HasSuffix(a, ".sum"):
			path, _, _ := strings.Cut(a, "@")
			if *allVersions {
				vs, err := listVersions(ctx, proxyURL, path)
				if err != nil {
					fmt.Fprintf(env.stderr, "gatehouse mirror: %s: %v\n", a, err)
					return 1
				}
				for _, v := range vs {
					queries = append(queries, path+"@"+v)
				}
				continue
			}
			queries = append(queries, a)
		case strings.HasSuffix(a, ".sum"):
			zips, mods, err := readGoSum(a)
			if err != nil {
				fmt.Fprintf(env.stderr, "gatehouse mirror: %v\n", err)
				return 2
			}
			queries = append(queries, zips...)
			jobsList = append(jobsList, job{mods: mods})
		default:
			gomod := a
			if st, err := os.Stat(a); err == nil && st.IsDir() {
				gomod = filepath.Join(a, "go.mod")
			}
			data, err := os.ReadFile(gomod)
			if err != nil {
				fmt.Fprintf(env.stderr, "gatehouse mirror: %v\n", err)
				return 2
			}
			dir := filepath.Join(work, fmt.Sprintf("mod%d", i))
			os.MkdirAll(dir, 0o700)
			os.WriteFile(filepath.Join(dir, "go.mod"), data, 0o600)
			if sum, err := os.ReadFile(filepath.Join(filepath.Dir(gomod), "go.sum")); err == nil {
				os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o600)
			}
			jobsList = append(jobsList, job{dir: dir, args: []string{"all"}})
		}
	}
	if len(queries) > 0 {
		dir := filepath.Join(work, "queries")
		os.MkdirAll(dir, 0o700)
		jobsList = append(jobsList, job{dir: dir, args: queries})
	}

	data := string(cfg.Data)
	prog := newProgress(env, *asJSON)
	prog.Start("mirror", 0)
	start := time.Now()
	var fetched, skipped int
	var refused []string
	var bytes int64
	seen := map[string]bool{}
	count := func(r mirrorResult, storedBefore bool) {
		key := r.Path + "@" + r.Version
		if seen[key] {
			return
		}
		seen[key] = true
		switch {
		case r.Error != "":
			refused = append(refused, key+": "+firstLineOf(r.Error))
		case storedBefore:
			skipped++
		default:
			fetched++
		}
		var n int64
		if st, err := os.Stat(r.Zip); err == nil {
			n = st.Size()
		}
		bytes += n
		prog.Step(n)
	}
	for _, j := range jobsList {
		for _, m := range j.mods {
			path, vers, _ := strings.Cut(m, "@")
			before := isStored(data, path, vers, ".mod")
			err := getMod(ctx, proxyURL, path, vers)
			r := mirrorResult{Path: path, Version: vers}
			if err != nil {
				r.Error = err.Error()
			}
			count(r, before)
		}
		if j.dir == "" {
			continue
		}
		before := map[string]bool{}
		for _, v := range storedVersionsSet(data) {
			before[v] = true
		}
		cmd := exec.CommandContext(ctx, "go", append([]string{"mod", "download", "-json"}, j.args...)...)
		cmd.Dir, cmd.Env = j.dir, goEnv
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			fmt.Fprintf(env.stderr, "gatehouse mirror: %v\n", err)
			return 1
		}
		if err := cmd.Start(); err != nil {
			fmt.Fprintf(env.stderr, "gatehouse mirror: running go: %v\n", err)
			return 1
		}
		refusedBefore := len(refused)
		dec := json.NewDecoder(bufio.NewReader(out))
		for {
			var r mirrorResult
			if err := dec.Decode(&r); err != nil {
				break
			}
			count(r, before[r.Path+"@"+r.Version])
		}
		werr := cmd.Wait()
		if werr != nil && len(refused) == refusedBefore {
			// go failed before it could name a module (a go.mod that does not
			// parse, a build list it could not load).
			fmt.Fprintf(env.stderr, "gatehouse mirror: go mod download: %v\n%s", werr, stderr.String())
			return 1
		}
	}
	prog.Done()
	secs := time.Since(start).Seconds()
	if *asJSON {
		writeJSONLine(env.stdout, map[string]any{"event": "summary", "op": "mirror", "fetched": fetched, "skipped": skipped,
			"refused": refused, "bytes": bytes, "seconds": secs})
	} else {
		for _, r := range refused {
			fmt.Fprintln(env.stderr, "refused "+r)
		}
		fmt.Fprintf(env.stdout, "mirrored %d module versions (%s) in %.1fs: %d fetched, %d already stored, %d refused\n",
			fetched+skipped, airgap.FormatBytes(bytes), secs, fetched, skipped, len(refused))
	}
	if len(refused) > 0 {
		return 1
	}
	return 0
}

// mirrorGoEnv is a clean environment for the child go command: its own
// caches, gatehouse as its only proxy, the checksum database through it.
func mirrorGoEnv(work, proxyURL, sumdb string) []string {
	home := filepath.Join(work, "home")
	return []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home,
		"GOPATH=" + filepath.Join(home, "go"), "GOMODCACHE=" + filepath.Join(home, "modcache"),
		"GOCACHE=" + filepath.Join(home, "gocache"), "GOENV=off", "GOWORK=off", "GOTOOLCHAIN=local",
		"GOTELEMETRY=off", "GOFLAGS=-mod=mod -modcacherw", "GOPROXY=" + proxyURL, "GOSUMDB=" + sumdb,
		"GONOSUMDB=", "GONOPROXY=", "GOPRIVATE=", "GOINSECURE=", "GIT_TERMINAL_PROMPT=0",
	}
}

// readGoSum splits a go.sum into module@version with a zip line and
// go.mod-only versions.
func readGoSum(file string) (zips, mods []string, err error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	hasZip := map[string]bool{}
	var order []string
	for n, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 {
			return nil, nil, fmt.Errorf("%s:%d: not a go.sum line", file, n+1)
		}
		v, isMod := strings.CutSuffix(f[1], "/go.mod")
		if module.Check(f[0], v) != nil {
			return nil, nil, fmt.Errorf("%s:%d: invalid module version %s %s", file, n+1, f[0], v)
		}
		key := f[0] + "@" + v
		if _, ok := hasZip[key]; !ok {
			order = append(order, key)
			hasZip[key] = false
		}
		if !isMod {
			hasZip[key] = true
		}
	}
	for _, k := range order {
		if hasZip[k] {
			zips = append(zips, k)
		} else {
			mods = append(mods, k)
		}
	}
	return zips, mods, nil
}

func listVersions(ctx context.Context, proxyURL, path string) ([]string, error) {
	esc, err := module.EscapePath(path)
	if err != nil {
		return nil, err
	}
	body, err := httpGet(ctx, proxyURL+"/"+esc+"/@v/list")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(body)), nil
}

func getMod(ctx context.Context, proxyURL, path, vers string) error {
	esc, err1 := module.EscapePath(path)
	ev, err2 := module.EscapeVersion(vers)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	_, err := httpGet(ctx, proxyURL+"/"+esc+"/@v/"+ev+".mod")
	return err
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, firstLineOf(string(body)))
	}
	return body, err
}

func isStored(data, path, vers, ext string) bool {
	esc, err1 := module.EscapePath(path)
	ev, err2 := module.EscapeVersion(vers)
	if err1 != nil || err2 != nil {
		return false
	}
	_, err := os.Stat(filepath.Join(data, filepath.FromSlash(esc), "@v", ev+ext))
	return err == nil
}

// storedVersionsSet lists module@version whose zip is stored.
func storedVersionsSet(data string) []string {
	var out []string
	filepath.Walk(data, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return nil
		}
		if info.IsDir() && info.Name() == ".gatehouse" {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(data, p)
		dir, file := filepath.Split(filepath.ToSlash(rel))
		ev, ok := strings.CutSuffix(file, ".zip")
		escPath, ok2 := strings.CutSuffix(dir, "/@v/")
		if !ok || !ok2 {
			return nil
		}
		path, err1 := module.UnescapePath(escPath)
		v, err2 := module.UnescapeVersion(ev)
		if err1 == nil && err2 == nil {
			out = append(out, path+"@"+v)
		}
		return nil
	})
	return out
}

func firstLineOf(s string) string {
	line, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return line
}

// removeAllWritable removes a tree the go command made read-only.
func removeAllWritable(dir string) {
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && info.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
	os.RemoveAll(dir)
}
