package doctor

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// SchemaVersion is the version of the JSON report's schema; it changes
// only when a field changes meaning or goes away.
const SchemaVersion = 1

// Options says what to check.
type Options struct {
	// Go is the go command to run; "" means "go" from PATH.
	Go string
	// Environ is the environment to audit: the go command runs with it, and
	// HOME and NETRC come from it. nil means os.Environ().
	Environ []string
	// ModuleDir, if set, is a module directory to check.
	ModuleDir string
	// Proxy, if set, is a GOPROXY URL to check.
	Proxy string
	// KnownModule ("path@version") is checked through Proxy;
	// "" means DefaultKnownModule.
	KnownModule string
	// ExpectProxy reports a direct fallback in GOPROXY; it is implied by Proxy.
	ExpectProxy bool
	// BuildList lists the packages of ModuleDir's build list (of Packages)
	// that use cgo, unsafe, //go:linkname or assembly, in Report.Native.
	BuildList bool
	// Packages are the package patterns whose build list is listed; nil
	// means ./... .
	Packages []string
	// Deny turns native code matching a rule into findings; it implies
	// BuildList.
	Deny []DenyRule
	// Root is the file system root under which the shell start-up files
	// (etc/profile, etc/profile.d, etc/environment) and git's system config
	// (etc/gitconfig) are read; "" means "/", where git's own system config
	// path is used. HOME comes from Environ.
	Root string
	// UID is the current user's id, for "writable by the current non-root
	// user"; nil means os.Getuid. Tests running as root inject another.
	UID func() int
	// HTTPClient reaches Proxy; nil means a client with a timeout.
	HTTPClient *http.Client
}

// A Report is the outcome of one run.
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Tool          string    `json:"tool"`
	ToolVersion   string    `json:"tool_version"`
	GoVersion     string    `json:"go_version"`
	GOROOT        string    `json:"goroot"`
	GOENV         string    `json:"goenv"`
	ModuleDir     string    `json:"module_dir,omitempty"`
	Proxy         string    `json:"proxy,omitempty"`
	Findings      []Finding `json:"findings"`
	// Native is the build list's native and unsafe code, with BuildList.
	Native *NativeReport `json:"native_code,omitempty"`
}

// Worst returns the highest severity among the findings, and false if
// there are none.
func (r *Report) Worst() (Severity, bool) {
	if len(r.Findings) == 0 {
		return 0, false
	}
	w := Info
	for _, f := range r.Findings {
		w = max(w, f.Severity)
	}
	return w, true
}

// Run runs every check that applies and returns the findings, most severe
// first. An error means doctor could not do its job (no go command, a bad
// module directory), not that it found something.
func Run(ctx context.Context, opts Options) (*Report, error) {
	goCmd := opts.Go
	if goCmd == "" {
		goCmd = "go"
	}
	environ := opts.Environ
	if environ == nil {
		environ = os.Environ()
	}
	uid := os.Getuid()
	if opts.UID != nil {
		uid = opts.UID()
	}
	var proxy, known = opts.Proxy, opts.KnownModule
	if known == "" {
		known = DefaultKnownModule
	}
	// Check the input before running anything.
	var proxyURL *url.URL
	if proxy != "" {
		u, err := parseProxyURL(proxy)
		if err != nil {
			return nil, err
		}
		proxyURL = u
	}
	knownMod, err := parseKnownModule(known)
	if err != nil {
		return nil, err
	}
	moduleDir := opts.ModuleDir
	if moduleDir != "" {
		abs, err := filepath.Abs(moduleDir)
		if err != nil {
			return nil, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return nil, errors.New("module directory " + moduleDir + ": not a directory")
		}
		moduleDir = abs
	}
	buildList := opts.BuildList || len(opts.Deny) > 0
	if buildList && moduleDir == "" {
		return nil, errNoModule
	}

	env, err := LoadGoEnv(ctx, goCmd, environ)
	if err != nil {
		return nil, err
	}
	r := &Report{
		SchemaVersion: SchemaVersion, Tool: "gatehouse doctor",
		GoVersion: env.Get("GOVERSION"), GOROOT: env.Get("GOROOT"), GOENV: env.Get("GOENV"),
		ModuleDir: moduleDir, Proxy: proxy,
		Findings: []Finding{},
	}
	r.Findings = append(r.Findings, checkEnv(env, opts.ExpectProxy || proxy != "")...)
	r.Findings = append(r.Findings, checkFiles(env, uid, envMap(environ))...)
	root := opts.Root
	if root == "" {
		root = "/"
	}
	r.Findings = append(r.Findings, checkLeftovers(ctx, env, envMap(environ), root)...)
	if moduleDir != "" {
		fs, err := checkModule(ctx, goCmd, environ, env, moduleDir)
		if err != nil {
			return nil, err
		}
		r.Findings = append(r.Findings, fs...)
		if buildList {
			nr, fs := checkNative(ctx, goCmd, environ, env, moduleDir, opts.Packages, opts.Deny)
			r.Native = nr
			r.Findings = append(r.Findings, fs...)
		}
	}
	if proxyURL != nil {
		client := opts.HTTPClient
		if client == nil {
			client = &http.Client{Timeout: 2 * time.Minute}
		}
		r.Proxy = proxyURL.String()
		r.Findings = append(r.Findings, checkProxy(ctx, env, client, proxyURL, knownMod)...)
	}
	for i := range r.Findings {
		if f := &r.Findings[i]; f.Fix == nil {
			f.Fix = &Fix{Kind: Edit, Text: mustCheck(f.ID).Fix}
		}
	}
	SortFindings(r.Findings)
	return r, nil
}

// SortFindings orders findings most severe first, then by id and location,
// so that output is stable.
func SortFindings(fs []Finding) {
	sort.SliceStable(fs, func(i, j int) bool {
		a, b := fs[i], fs[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if a.Location.Path != b.Location.Path {
			return a.Location.Path < b.Location.Path
		}
		return a.Location.Line < b.Location.Line
	})
}
