package doctor

import (
	"fmt"
	"net"
	"net/url"
	"strings"

	"golang.org/x/mod/module"
)

// hostingSites are public hosting sites: a private-module pattern that
// covers every module on one of them is too broad.
var hostingSites = []string{
	"github.com", "gitlab.com", "bitbucket.org", "codeberg.org", "gitea.com", "git.sr.ht",
	"golang.org", "google.golang.org", "go.googlesource.com", "cloud.google.com",
	"gopkg.in", "k8s.io", "sigs.k8s.io", "go.uber.org", "go.opentelemetry.io",
}

// broadPattern reports whether a GOPRIVATE-style pattern covers a whole
// hosting site (or everything), and which. It asks the go command's own
// matcher (module.MatchPrefixPatterns) whether the pattern matches a path
// under the site that nobody would list on purpose.
func broadPattern(pattern string) (site string, ok bool) {
	if module.MatchPrefixPatterns(pattern, "zz-gatehouse-doctor-probe.invalid/zz/zz") {
		return "", true
	}
	for _, s := range hostingSites {
		probe := s + "/zz-gatehouse-doctor-probe/zz"
		if s == "gopkg.in" {
			probe = s + "/zz-gatehouse-doctor-probe.v1"
		}
		if module.MatchPrefixPatterns(pattern, probe) {
			return s, true
		}
	}
	return "", false
}

func splitPatterns(list string) []string {
	var out []string
	for _, p := range strings.Split(list, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// keepPatterns returns list without the patterns drop reports.
func keepPatterns(list string, drop func(string) bool) string {
	var keep []string
	for _, p := range splitPatterns(list) {
		if !drop(p) {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, ",")
}

func isBroad(p string) bool { _, ok := broadPattern(p); return ok }

func checkEnv(e *GoEnv, expectProxy bool) []Finding {
	var fs []Finding
	add := func(id, key, msg string, fix *Fix) *Finding {
		f := mustCheck(id).finding(msg)
		f.Source = e.Origin(key).Source
		f.Location = e.location(key)
		f.Fix = fix
		fs = append(fs, f)
		return &fs[len(fs)-1]
	}

	if strings.TrimSpace(e.Get("GOSUMDB")) == "off" {
		add("GH001", "GOSUMDB", "GOSUMDB=off: module hashes are not checked against any checksum database",
			goEnvFix(e.Origin("GOSUMDB"), "GOSUMDB", "sum.golang.org"))
	}

	for _, v := range []struct{ id, key string }{{"GH002", "GONOSUMDB"}, {"GH003", "GOPRIVATE"}, {"GH004", "GONOPROXY"}} {
		for _, p := range splitPatterns(e.Get(v.key)) {
			site, broad := broadPattern(p)
			if !broad {
				continue
			}
			what := "every module"
			if site != "" {
				what = "every module on " + site
			}
			add(v.id, v.key, fmt.Sprintf("%s pattern %q covers %s", v.key, p, what),
				goEnvFix(e.Origin(v.key), v.key, keepPatterns(e.Get(v.key), isBroad)))
		}
	}

	if insecure := strings.TrimSpace(e.Get("GOINSECURE")); insecure != "" {
		f := add("GH005", "GOINSECURE", fmt.Sprintf("GOINSECURE=%s: matching modules may be fetched without TLS", insecure),
			goEnvFix(e.Origin("GOINSECURE"), "GOINSECURE", ""))
		for _, p := range splitPatterns(insecure) {
			if isBroad(p) {
				f.Severity = Critical
				f.Message = fmt.Sprintf("GOINSECURE=%s: pattern %q lets public modules be fetched without TLS", insecure, p)
				break
			}
		}
	}

	fs = append(fs, checkGOPROXY(e, expectProxy)...)

	flags := strings.Fields(e.Get("GOFLAGS"))
	dropFlags := func(bad func(string) bool) string {
		var keep []string
		for _, f := range flags {
			if !bad(f) {
				keep = append(keep, f)
			}
		}
		return strings.Join(keep, " ")
	}
	isInsecure := func(f string) bool {
		f = strings.TrimLeft(f, "-")
		return f == "insecure" || f == "insecure=true"
	}
	isModMod := func(f string) bool { return strings.TrimLeft(f, "-") == "mod=mod" }
	// One fixed value for both flags, so that applying one fix does not
	// undo the other.
	goflagsFix := goEnvFix(e.Origin("GOFLAGS"), "GOFLAGS", dropFlags(func(f string) bool { return isInsecure(f) || isModMod(f) }))
	for _, f := range flags {
		if isInsecure(f) {
			add("GH009", "GOFLAGS", fmt.Sprintf("GOFLAGS contains %s", f), goflagsFix)
			break
		}
	}
	for _, f := range flags {
		if isModMod(f) {
			add("GH010", "GOFLAGS", "GOFLAGS contains -mod=mod: builds may rewrite go.mod and go.sum", goflagsFix)
			break
		}
	}

	if strings.TrimSpace(e.Get("GOAUTH")) == "off" {
		add("GH011", "GOAUTH", "GOAUTH=off: the go command sends no credentials", goEnvFix(e.Origin("GOAUTH"), "GOAUTH", "netrc"))
	}

	if tc := e.Get("GOTOOLCHAIN"); toolchainDownloads(tc, e.Get("GOVERSION")) {
		add("GH012", "GOTOOLCHAIN", fmt.Sprintf("GOTOOLCHAIN=%s: the go command may download and run other toolchains", tc),
			goEnvFix(e.Origin("GOTOOLCHAIN"), "GOTOOLCHAIN", "local"))
	}
	return fs
}

// toolchainDownloads reports whether a GOTOOLCHAIN value lets the go
// command download a toolchain: auto, <name>+auto, or a named version
// other than the local one (without +path).
func toolchainDownloads(tc, local string) bool {
	switch {
	case tc == "" || tc == "local" || tc == "path" || strings.HasSuffix(tc, "+path"):
		return false
	case tc == "auto" || strings.HasSuffix(tc, "+auto"):
		return true
	}
	return tc != local
}

// A proxyEntry is one element of a GOPROXY list.
type proxyEntry struct {
	raw string
	url *url.URL // nil for direct and off
}

func parseGOPROXY(list string) []proxyEntry {
	var out []proxyEntry
	for _, raw := range strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == '|' }) {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			continue
		}
		e := proxyEntry{raw: raw}
		if raw != "direct" && raw != "off" {
			if u, err := url.Parse(raw); err == nil {
				e.url = u
			}
		}
		out = append(out, e)
	}
	return out
}

// redactURL hides a URL's user information entirely: a user name alone is
// often a token.
func redactURL(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User("xxxxx")
	}
	return c.String()
}

// redactGOPROXY returns the GOPROXY list with credentials redacted, keeping
// its separators.
func redactGOPROXY(list string) string {
	return rewriteGOPROXY(list, func(u *url.URL) string { return redactURL(u) })
}

// stripGOPROXYCredentials returns the list without user information.
func stripGOPROXYCredentials(list string) string {
	return rewriteGOPROXY(list, func(u *url.URL) string { c := *u; c.User = nil; return c.String() })
}

func rewriteGOPROXY(list string, f func(*url.URL) string) string {
	var b strings.Builder
	start := 0
	flush := func(end int) {
		raw := list[start:end]
		if u, err := url.Parse(strings.TrimSpace(raw)); err == nil && u.User != nil {
			raw = f(u)
		}
		b.WriteString(raw)
	}
	for i, r := range list {
		if r == ',' || r == '|' {
			flush(i)
			b.WriteRune(r)
			start = i + 1
		}
	}
	flush(len(list))
	return b.String()
}

func isLoopback(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkGOPROXY(e *GoEnv, expectProxy bool) []Finding {
	var fs []Finding
	list := e.Get("GOPROXY")
	origin := e.Origin("GOPROXY")
	add := func(id, msg string, fix *Fix) {
		f := mustCheck(id).finding(msg)
		f.Source = origin.Source
		f.Location = e.location("GOPROXY")
		f.Fix = fix
		fs = append(fs, f)
	}
	entries := parseGOPROXY(list)
	hasCreds := false
	for _, p := range entries {
		if p.url != nil && p.url.User != nil {
			hasCreds = true
		}
	}
	if hasCreds {
		add("GH007", fmt.Sprintf("GOPROXY=%s contains credentials", redactGOPROXY(list)),
			goEnvFix(origin, "GOPROXY", stripGOPROXYCredentials(list)))
	}
	for _, p := range entries {
		if p.url == nil || p.url.Scheme != "http" || isLoopback(p.url.Hostname()) {
			continue
		}
		add("GH006", fmt.Sprintf("GOPROXY entry %s uses plain HTTP to a remote host", redactURL(p.url)),
			&Fix{Kind: Edit, Text: "serve the proxy over HTTPS and set GOPROXY to its https:// URL, or reach it through a local sidecar"})
	}
	if expectProxy {
		for _, p := range entries {
			if p.raw == "direct" {
				var keep []string
				for _, q := range entries {
					if q.raw != "direct" && q.raw != "off" {
						keep = append(keep, redactOrRaw(q))
					}
				}
				fix := &Fix{Kind: Edit, Text: "set GOPROXY to your proxy followed by off"}
				if len(keep) > 0 && !hasCreds {
					fix = goEnvFix(origin, "GOPROXY", strings.Join(keep, ",")+",off")
				}
				add("GH008", fmt.Sprintf("GOPROXY=%s falls back to direct", redactGOPROXY(list)), fix)
				break
			}
		}
	}
	return fs
}

func redactOrRaw(p proxyEntry) string {
	if p.url != nil && p.url.User != nil {
		return redactURL(p.url)
	}
	return p.raw
}
