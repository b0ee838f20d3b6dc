package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"golang.org/x/mod/module"
)

// Serve is the configuration of gatehouse serve.
//
// Scalar settings are listed in Keys; structured sections added by later
// features get a field with a toml tag and a file of their own in this
// package.
type Serve struct {
	Listen          String   `toml:"listen"`
	Data            String   `toml:"data"`
	Upstream        String   `toml:"upstream"`
	SumDB           String   `toml:"sumdb"`
	SumDBURL        String   `toml:"sumdb_url"`
	NoSumDB         List     `toml:"nosumdb"`
	UpstreamTimeout Duration `toml:"upstream_timeout"`
	MaxFetches      Int      `toml:"max_upstream_fetches"`
	MaxZipSize      Int      `toml:"max_zip_size"`
	LogFormat       String   `toml:"log_format"`
	LogLevel        String   `toml:"log_level"`
	ShutdownTimeout Duration `toml:"shutdown_timeout"`
	WriteTimeout    Duration `toml:"write_timeout"`
	Policy          String   `toml:"policy"`
	PolicyPoll      Duration `toml:"policy_poll"`
	ModuleIndex     String   `toml:"module_index"`
	MinAgeFallback  String   `toml:"min_age_fallback"`
	MetricsListen   String   `toml:"metrics_listen"`
	PprofListen     String   `toml:"pprof_listen"`
	ListTTL         Duration `toml:"list_ttl"`
	ListMaxStale    Duration `toml:"list_max_stale"`
	PrefetchWorkers Int      `toml:"prefetch_workers"`
	Offline         Bool     `toml:"offline"`

	Private // private modules and the own checksum log: private.go
	Access  // TLS, authentication, authorization, audit: access.go
}

// MaxZipSizeLimit is the largest module zip the go command accepts (500 MiB).
const MaxZipSizeLimit = 500 << 20

// DefaultServe returns the zero-config settings.
func DefaultServe() *Serve {
	return &Serve{
		Listen:          "127.0.0.1:3000",
		Data:            "./gatehouse-data",
		Upstream:        "https://proxy.golang.org",
		SumDB:           "sum.golang.org",
		UpstreamTimeout: Duration(2 * time.Minute),
		MaxFetches:      32,
		MaxZipSize:      MaxZipSizeLimit,
		LogFormat:       "text",
		LogLevel:        "info",
		ShutdownTimeout: Duration(30 * time.Second),
		WriteTimeout:    Duration(time.Minute),
		PolicyPoll:      Duration(5 * time.Second),
		ModuleIndex:     "https://index.golang.org/index",
		MinAgeFallback:  "first_seen",
		ListTTL:         Duration(time.Minute),
		ListMaxStale:    Duration(time.Hour),
		PrefetchWorkers: 8,
		Private:         DefaultPrivate(),
		Access:          defaultAccess(),
	}
}

// Keys lists the scalar settings of serve.
func (c *Serve) Keys() []Key {
	return append([]Key{
		{Name: "listen", Value: &c.Listen, Usage: "`address` to listen on"},
		{Name: "data", Value: &c.Data, Usage: "`directory` of the module store (GOPROXY=file:// layout)"},
		{Name: "upstream", Value: &c.Upstream, Usage: "upstream proxies in GOPROXY `syntax`: ',' falls through on 404/410, '|' on any error"},
		{Name: "sumdb", Value: &c.SumDB, Usage: "checksum database, as GOSUMDB: `name[+key]`; sum.golang.org has a known key"},
		{Name: "sumdb-url", Value: &c.SumDBURL, Usage: "`URL` of the checksum database (default: first upstream + /sumdb/<name>)"},
		{Name: "nosumdb", Value: &c.NoSumDB, Usage: "GONOSUMDB-style `patterns` exempt from checksum verification (a risk: see docs/security.md)"},
		{Name: "upstream-timeout", Value: &c.UpstreamTimeout, Usage: "time limit for one upstream fetch (`duration`)"},
		{Name: "max-upstream-fetches", Value: &c.MaxFetches, Usage: "upstream `fetches` in flight at once"},
		{Name: "max-zip-size", Value: &c.MaxZipSize, Usage: "largest module zip accepted, in `bytes` (at most 500 MiB)"},
		{Name: "log-format", Value: &c.LogFormat, Usage: "log `format`: text or json"},
		{Name: "log-level", Value: &c.LogLevel, Usage: "log `level`: debug, info, warn or error"},
		{Name: "shutdown-timeout", Value: &c.ShutdownTimeout, Usage: "how long (`duration`) in-flight requests may take to finish on SIGTERM"},
		{Name: "write-timeout", Value: &c.WriteTimeout, Usage: "how long (`duration`) a client may take to read each MiB of an answer before its connection is closed; 0: no limit"},
		{Name: "policy", Value: &c.Policy, Usage: "supply-chain policy `file` (TOML, see docs/policy.md); reloaded on SIGHUP and when it changes"},
		{Name: "policy-poll", Value: &c.PolicyPoll, Usage: "how often (`duration`) to check the policy file for changes; 0: only on SIGHUP"},
		{Name: "module-index", Value: &c.ModuleIndex, Usage: "`URL` of the module index that dates public versions for min_age (index.golang.org format), or off; see docs/policy.md"},
		{Name: "min-age-fallback", Value: &c.MinAgeFallback, Usage: "clock of min_age where no index dates a version: first_seen (when gatehouse first saw it) or commit_time (the .info Time, which the author chooses)"},
		{Name: "metrics-listen", Value: &c.MetricsListen, Usage: "`address` of a separate plain-HTTP listener serving Prometheus /metrics (default: off); see docs/deployment.md"},
		{Name: "pprof-listen", Value: &c.PprofListen, Usage: "`address` of a separate plain-HTTP listener serving net/http/pprof under /debug/pprof/ (default: off); loopback only, see docs/deployment.md"},
		{Name: "list-ttl", Value: &c.ListTTL, Usage: "how long (`duration`) the upstream's @v/list and @latest answers are served from memory; up to twice as old while refreshed in the background; 0: ask every time"},
		{Name: "list-max-stale", Value: &c.ListMaxStale, Usage: "how old (`duration`) a kept @v/list or @latest answer may be and still be served while the upstream fails"},
		{Name: "offline", Value: &c.Offline, Usage: "never contact an upstream: answer from the store and serve the checksum database from imported proofs (see docs/air-gap.md)"},
		{Name: "prefetch-workers", Value: &c.PrefetchWorkers, Usage: "upstream `fetches` at once that fetch the sibling .info, .mod and .zip of a miss before they are asked for; 0: no prefetch"},
	}, append(c.privateKeys(), c.Access.keys()...)...)
}

// Validate checks every setting and returns the first problem as an *Error.
func (c *Serve) Validate() error {
	bad := func(key, format string, args ...any) error {
		return &Error{Key: key, Err: fmt.Errorf(format, args...)}
	}
	if _, port, err := net.SplitHostPort(string(c.Listen)); err != nil {
		return bad("listen", "%q is not host:port", c.Listen)
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		return bad("listen", "%q has an invalid port", c.Listen)
	}
	if c.Data == "" {
		return bad("data", "must not be empty")
	}
	if err := CheckProxyList(string(c.Upstream)); err != nil {
		return &Error{Key: "upstream", Err: err}
	}
	if err := CheckSumDB(string(c.SumDB)); err != nil {
		return &Error{Key: "sumdb", Err: err}
	}
	if c.SumDBURL != "" {
		if err := checkHTTPURL(string(c.SumDBURL)); err != nil {
			return &Error{Key: "sumdb-url", Err: err}
		}
	}
	for _, p := range c.NoSumDB {
		if err := CheckPattern(p); err != nil {
			return &Error{Key: "nosumdb", Err: err}
		}
	}
	if c.UpstreamTimeout == 0 {
		return bad("upstream-timeout", "must be more than 0")
	}
	if c.MaxFetches < 1 || c.MaxFetches > 10000 {
		return bad("max-upstream-fetches", "%d is outside 1..10000", c.MaxFetches)
	}
	if c.PrefetchWorkers < 0 || c.PrefetchWorkers > 1000 {
		return bad("prefetch-workers", "%d is outside 0..1000", c.PrefetchWorkers)
	}
	if c.MaxZipSize < 1 || c.MaxZipSize > MaxZipSizeLimit {
		return bad("max-zip-size", "%d is outside 1..%d", c.MaxZipSize, MaxZipSizeLimit)
	}
	if c.ModuleIndex != "off" {
		if err := checkHTTPURL(string(c.ModuleIndex)); err != nil || strings.HasPrefix(string(c.ModuleIndex), "file:") {
			return bad("module-index", "%q is neither an http(s) URL nor off", c.ModuleIndex)
		}
	}
	if c.MinAgeFallback != "first_seen" && c.MinAgeFallback != "commit_time" {
		return bad("min-age-fallback", "%q is neither first_seen nor commit_time", c.MinAgeFallback)
	}
	if err := checkOptionalListen("metrics-listen", c.MetricsListen); err != nil {
		return err
	}
	if err := checkOptionalListen("pprof-listen", c.PprofListen); err != nil {
		return err
	}
	if err := checkLogging(c.LogFormat, c.LogLevel); err != nil {
		return err
	}
	if err := c.validatePrivate(); err != nil {
		return err
	}
	return c.Access.validate()
}

// checkOptionalListen checks a host:port to listen on, if one is set.
func checkOptionalListen(key string, addr String) error {
	if addr == "" {
		return nil
	}
	if _, port, err := net.SplitHostPort(string(addr)); err != nil {
		return &Error{Key: key, Err: fmt.Errorf("%q is not host:port", addr)}
	} else if _, err := net.LookupPort("tcp", port); err != nil {
		return &Error{Key: key, Err: fmt.Errorf("%q has an invalid port", addr)}
	}
	return nil
}

// CheckProxyList checks GOPROXY syntax: URLs separated by ',' or '|'.
func CheckProxyList(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must name at least one proxy URL")
	}
	for _, u := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' }) {
		u = strings.TrimSpace(u)
		switch u {
		case "":
			return fmt.Errorf("empty entry in %q", s)
		case "direct", "off":
			return fmt.Errorf("%q is not supported as a public upstream: list proxy URLs (private modules are fetched directly, see docs/private-modules.md)", u)
		}
		if err := checkHTTPURL(u); err != nil {
			return err
		}
	}
	return nil
}

func checkHTTPURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") || (u.Scheme != "file" && u.Host == "") {
		return fmt.Errorf("%q is not an http(s) URL", s)
	}
	return nil
}

// CheckSumDB checks GOSUMDB syntax: a name, or name+key as printed by note.
func CheckSumDB(s string) error {
	if s == "" {
		return errors.New("must not be empty")
	}
	if strings.ContainsAny(s, " \t") {
		return fmt.Errorf("%q: give the URL with --sumdb-url, not after the name", s)
	}
	name, _, hasKey := strings.Cut(s, "+")
	if !hasKey && name != "sum.golang.org" {
		return fmt.Errorf("%q has no known key: write it as name+key (the verifier key)", s)
	}
	return nil
}

// CheckPattern checks one GOPRIVATE-style pattern (a path.Match glob of path prefixes).
func CheckPattern(p string) error {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, "..") {
		return fmt.Errorf("%q is not a module path pattern", p)
	}
	// Patterns are globs over path elements; check the literal prefix.
	lit := p
	if i := strings.IndexAny(p, "*?["); i >= 0 {
		lit = strings.TrimSuffix(p[:i], "/")
	}
	if lit != "" {
		if err := module.CheckImportPath(lit); err != nil && !strings.ContainsAny(p, "*?[") {
			return fmt.Errorf("%q is not a module path pattern: %v", p, err)
		}
	}
	return nil
}
