package doctor

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

// The leftover checks look outside `go env` for settings that send a build
// user's traffic somewhere else: proxy variables in the environment and in
// shell start-up files, git's proxy and URL rewrites, curl's proxy, and Go
// settings in start-up files that a login shell would apply.

// proxyVars are the variables net/http (and so the go command) reads to pick
// a proxy, upper case first as httpproxy.FromEnvironment does.
var proxyVars = []string{"HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

// goVarsInProfiles are the go settings a start-up file may export.
var goVarsInProfiles = []string{"GOPROXY", "GOFLAGS", "GOSUMDB", "GONOSUMDB", "GOPRIVATE", "GONOPROXY", "GOINSECURE"}

// startupFiles returns the shell start-up files a build user gets, under
// root (the file system root) and home.
func startupFiles(root, home string) []string {
	files := []string{
		filepath.Join(root, "etc", "environment"),
		filepath.Join(root, "etc", "profile"),
	}
	if ents, err := os.ReadDir(filepath.Join(root, "etc", "profile.d")); err == nil {
		for _, e := range ents {
			if e.Type().IsRegular() {
				files = append(files, filepath.Join(root, "etc", "profile.d", e.Name()))
			}
		}
	}
	if home != "" {
		for _, n := range []string{".profile", ".bash_profile", ".bashrc", ".zshenv", ".zprofile", ".zshrc"} {
			files = append(files, filepath.Join(home, n))
		}
	}
	return files
}

// An assignment is NAME=VALUE found in a file.
type assignment struct {
	name, value string
	path        string
	line        int
}

// shellAssignments returns the variable assignments of a shell start-up
// file or /etc/environment: lines "NAME=VALUE" and "export NAME=VALUE ...",
// with quotes removed. It does not run the file, so assignments inside
// conditionals count too: a start-up file is reported for what it can set.
func shellAssignments(path string) []assignment {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []assignment
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		words := shellWords(sc.Text())
		if len(words) == 0 {
			continue
		}
		switch words[0] {
		case "export", "declare", "typeset", "readonly", "local":
			words = words[1:]
		}
		for _, w := range words {
			if strings.HasPrefix(w, "-") {
				continue // declare -x
			}
			name, value, ok := strings.Cut(w, "=")
			if !ok || !isVarName(name) {
				break // a command, not an assignment
			}
			out = append(out, assignment{name: name, value: value, path: path, line: n})
		}
	}
	return out
}

func isVarName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// shellWords splits a line into words the way a shell would for simple
// assignments: blanks separate, quotes group and are removed, # starts a
// comment at the start of a word, and ; ends the command.
func shellWords(line string) []string {
	var words []string
	var w strings.Builder
	inWord := false
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case c == '\'' || c == '"':
			end := strings.IndexByte(line[i+1:], c)
			if end < 0 {
				end = len(line) - i - 1
			}
			w.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case c == '\\' && i+1 < len(line):
			w.WriteByte(line[i+1])
			i++
			inWord = true
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, w.String())
				w.Reset()
				inWord = false
			}
		case (c == '#' && !inWord) || c == ';' || c == '&' || c == '|':
			if inWord {
				words = append(words, w.String())
			}
			return words
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, w.String())
	}
	return words
}

// redactValue hides credentials in a proxy or git URL; the conventional
// git@ of an ssh URL is no secret and stays.
func redactValue(v string) string {
	if u, err := url.Parse(v); err == nil && u.User != nil && u.User.String() != "git" {
		return redactURL(u)
	}
	if strings.Contains(v, "@") && !strings.Contains(v, "://") {
		if u, err := url.Parse("http://" + v); err == nil && u.User != nil {
			return strings.TrimPrefix(redactURL(u), "http://")
		}
	}
	return v
}

// effectiveProxy says which proxy the go command, run with environ, uses
// for the kind of URL a variable is about (https, http, or the exceptions).
func effectiveProxy(env map[string]string, name string) string {
	upper := strings.ToUpper(name)
	get := func(k string) (string, string) {
		if v := env[k]; v != "" {
			return k, v
		}
		if v := env[strings.ToLower(k)]; v != "" {
			return strings.ToLower(k), v
		}
		return "", ""
	}
	var k, v string
	switch upper {
	case "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY":
		k, v = get(upper)
	default: // ALL_PROXY: net/http does not read it
		return "nothing: the go command (net/http) does not read " + name
	}
	what := map[string]string{"HTTPS_PROXY": "https proxy", "HTTP_PROXY": "http proxy", "NO_PROXY": "proxy exceptions"}[upper]
	if v == "" {
		return "no " + what + " (not set in this environment)"
	}
	return fmt.Sprintf("%s %s (environment %s)", what, redactValue(v), k)
}

func isProxyVar(name string) bool {
	for _, p := range proxyVars {
		if p == name {
			return true
		}
	}
	return false
}

// checkLeftovers reports proxy and source settings outside go env.
func checkLeftovers(ctx context.Context, e *GoEnv, environ map[string]string, root string) []Finding {
	var fs []Finding
	home := environ["HOME"]
	add := func(id string, sev Severity, src Source, loc Location, msg string, fix *Fix) {
		f := mustCheck(id).finding(msg)
		f.Severity = sev
		f.Source = src
		f.Location = loc
		f.Fix = fix
		fs = append(fs, f)
	}
	proxySeverity := func(name string) Severity {
		if strings.EqualFold(name, "no_proxy") {
			return Info
		}
		return mustCheck("GH013").Severity
	}

	// The process environment.
	names := make([]string, 0, len(environ))
	for k := range environ {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if isProxyVar(k) && environ[k] != "" {
			add("GH013", proxySeverity(k), FromEnvironment, Location{Setting: k},
				fmt.Sprintf("%s=%s is set in the environment; the go command uses %s", k, redactValue(environ[k]), effectiveProxy(environ, k)),
				&Fix{Kind: Shell, Text: "unset it where it is set (CI configuration, shell profile) unless every module fetch is meant to go through it", Command: "unset " + k})
		}
	}

	// Shell start-up files.
	for _, path := range startupFiles(root, home) {
		for _, a := range shellAssignments(path) {
			loc := Location{Path: a.path, Line: a.line, Setting: a.name}
			edit := &Fix{Kind: Edit, Text: fmt.Sprintf("remove the %s line at %s:%d", a.name, a.path, a.line)}
			switch {
			case isProxyVar(a.name) && a.value != "":
				add("GH013", proxySeverity(a.name), FromFile, loc,
					fmt.Sprintf("%s=%s is set in %s:%d; here the go command uses %s", a.name, redactValue(a.value), a.path, a.line, effectiveProxy(environ, a.name)), edit)
			case isGoProfileVar(a.name) && a.value != e.Get(a.name):
				o := e.Origin(a.name)
				add("GH017", mustCheck("GH017").Severity, FromFile, loc,
					fmt.Sprintf("%s=%s is set in %s:%d but the go command uses %s=%s (from %s): a login shell would change it", a.name, redactGoValue(a.name, a.value), a.path, a.line, a.name, redactGoValue(a.name, e.Get(a.name)), o), edit)
			}
		}
	}

	fs = append(fs, checkGitConfig(ctx, environ, root)...)

	if home != "" {
		path := filepath.Join(home, ".curlrc")
		for _, c := range curlrcProxies(path) {
			add("GH016", mustCheck("GH016").Severity, FromFile, Location{Path: path, Line: c.line, Setting: c.name},
				fmt.Sprintf("%s %s is set in %s:%d: curl (and scripts that fetch with it) use that proxy; the go command does not read .curlrc and uses %s", c.name, redactValue(c.value), path, c.line, effectiveProxy(environ, "HTTPS_PROXY")),
				&Fix{Kind: Edit, Text: fmt.Sprintf("remove the %s line at %s:%d", c.name, path, c.line)})
		}
	}
	return fs
}

func isGoProfileVar(name string) bool {
	for _, v := range goVarsInProfiles {
		if v == name {
			return true
		}
	}
	return false
}

func redactGoValue(name, v string) string {
	if name == "GOPROXY" {
		return redactGOPROXY(v)
	}
	return v
}

// curlrcProxies returns the proxy options of a .curlrc: "proxy = URL",
// "--proxy URL", "-x URL", "preproxy ..." (curl's config file syntax: an
// optional leading --, then the option, then blanks, = or :).
func curlrcProxies(path string) []assignment {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []assignment
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		var name, rest string
		if strings.HasPrefix(line, "-x") && !strings.HasPrefix(line, "--") {
			name, rest = "proxy", line[2:]
		} else {
			line = strings.TrimPrefix(line, "--")
			i := strings.IndexAny(line, " \t=:")
			if i < 0 {
				continue
			}
			name, rest = line[:i], line[i:]
		}
		if name != "proxy" && name != "preproxy" && name != "socks5" && name != "socks5-hostname" {
			continue
		}
		rest = strings.TrimLeft(rest, " \t=:")
		value := strings.Trim(strings.TrimSpace(rest), `"`)
		out = append(out, assignment{name: name, value: value, path: path, line: n})
	}
	return out
}

// checkGitConfig reads git's system and global configuration with the real
// git (which follows include directives) and reports http.proxy and URL
// rewrites. git does not print line numbers, so the line is found in the
// file git names as the origin.
func checkGitConfig(ctx context.Context, environ map[string]string, root string) []Finding {
	git, err := exec.LookPath("git")
	if err != nil {
		return nil
	}
	var fs []Finding
	for _, scope := range []string{"--system", "--global"} {
		cmd := exec.CommandContext(ctx, git, "config", scope, "--includes", "--show-origin", "-z", "--get-regexp", `^(http\..*proxy|url\..*\.insteadof)$`)
		cmd.Env = gitEnv(environ, root)
		cmd.Dir = os.TempDir()
		out, err := cmd.Output()
		if err != nil {
			continue // exit 1: nothing matched; no such file
		}
		for _, ent := range parseGitConfigZ(out) {
			line := gitConfigLine(ent.path, ent.key)
			key := redactGitKey(ent.key)
			loc := Location{Path: ent.path, Line: line, Setting: key}
			edit := &Fix{Kind: Edit, Text: "remove it unless every git fetch is meant to go there",
				Command: shellJoin([]string{"git", "config", scope, "--unset-all", ent.key})}
			if key != ent.key {
				// The key itself holds credentials: no command that repeats it.
				edit = &Fix{Kind: Edit, Text: fmt.Sprintf("remove the %s line at %s:%d (its URL holds credentials: move them to .netrc or a credential helper)", key, ent.path, line)}
			}
			if strings.HasPrefix(strings.ToLower(ent.key), "url.") {
				base := ent.key[len("url."):strings.LastIndexByte(ent.key, '.')]
				f := mustCheck("GH015").finding(fmt.Sprintf("git %s config rewrites %s to %s (%s): the go command's direct and private module fetches through git go to that host",
					strings.TrimPrefix(scope, "--"), redactValue(ent.value), redactValue(base), key))
				f.Source, f.Location, f.Fix = FromFile, loc, edit
				fs = append(fs, f)
				continue
			}
			f := mustCheck("GH014").finding(fmt.Sprintf("git %s config sets %s=%s: the go command's git fetches (direct and private modules) go through it",
				strings.TrimPrefix(scope, "--"), key, redactValue(ent.value)))
			f.Source, f.Location, f.Fix = FromFile, loc, edit
			fs = append(fs, f)
		}
	}
	return fs
}

// redactGitKey redacts credentials in the URL subsection of a git config
// key such as url.https://user:token@host/.insteadof.
func redactGitKey(key string) string {
	dot1, dotN := strings.IndexByte(key, '.'), strings.LastIndexByte(key, '.')
	if dot1 < 0 || dotN <= dot1 {
		return key
	}
	return key[:dot1+1] + redactValue(key[dot1+1:dotN]) + key[dotN:]
}

// gitEnv is the environment git runs with: the audited one, with the
// system config under root when root is not /.
func gitEnv(environ map[string]string, root string) []string {
	var env []string
	for k, v := range environ {
		if k == "GIT_CONFIG_SYSTEM" && root != "/" {
			continue
		}
		env = append(env, k+"="+v)
	}
	if root != "/" {
		env = append(env, "GIT_CONFIG_SYSTEM="+filepath.Join(root, "etc", "gitconfig"))
	}
	return env
}

type gitConfigEntry struct{ path, key, value string }

// parseGitConfigZ parses `git config --show-origin -z --get-regexp`:
// records of "file:PATH\0KEY\nVALUE\0".
func parseGitConfigZ(out []byte) []gitConfigEntry {
	var ents []gitConfigEntry
	parts := strings.Split(string(out), "\x00")
	for i := 0; i+1 < len(parts); i += 2 {
		origin, kv := parts[i], parts[i+1]
		key, value, _ := strings.Cut(kv, "\n")
		ents = append(ents, gitConfigEntry{path: strings.TrimPrefix(origin, "file:"), key: key, value: value})
	}
	return ents
}

// gitConfigLine returns the line of path that sets key (section.sub.name),
// or 0: the first "name" line after a matching [section "sub"] header.
func gitConfigLine(path, key string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	dot1, dotN := strings.IndexByte(key, '.'), strings.LastIndexByte(key, '.')
	if dot1 < 0 {
		return 0
	}
	section, name := key[:dot1], key[dotN+1:]
	sub := ""
	if dotN > dot1 {
		sub = key[dot1+1 : dotN]
	}
	in := false
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "[") {
			end := strings.IndexByte(l, ']')
			if end < 0 {
				continue
			}
			h := l[1:end]
			s, rest, _ := strings.Cut(h, " ")
			rest = strings.Trim(strings.TrimSpace(rest), `"`)
			if rest == "" && strings.Contains(s, ".") { // [section.sub] legacy form
				s, rest, _ = strings.Cut(s, ".")
			}
			in = strings.EqualFold(s, section) && rest == sub
			l = strings.TrimSpace(l[end+1:])
			if l == "" {
				continue
			}
		}
		if !in {
			continue
		}
		k, _, _ := strings.Cut(l, "=")
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return n
		}
	}
	return 0
}
