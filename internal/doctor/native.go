package doctor

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/module"
)

// The kinds of native or memory-unsafe code the build list is searched for.
const (
	UsesCgo      = "cgo"      // import "C"
	UsesUnsafe   = "unsafe"   // import "unsafe"
	UsesLinkname = "linkname" // a //go:linkname directive
	UsesAsm      = "asm"      // .s files, or prebuilt .syso objects
)

var nativeKinds = []string{UsesCgo, UsesUnsafe, UsesLinkname, UsesAsm}

// A DenyRule turns native code of the given kinds in matching modules into
// findings: --deny cgo,unsafe:PATTERN.
type DenyRule struct {
	Kinds []string
	// Patterns are module path patterns (GOPRIVATE syntax); none means
	// every module.
	Patterns string
	raw      string
}

func (d DenyRule) String() string { return d.raw }

// ParseDenyRule parses KINDS[:PATTERNS]: kinds from cgo, unsafe, linkname
// and asm, comma-separated; patterns as in GOPRIVATE.
func ParseDenyRule(s string) (DenyRule, error) {
	kinds, patterns, _ := strings.Cut(s, ":")
	d := DenyRule{Patterns: strings.TrimSpace(patterns), raw: s}
	for _, k := range strings.Split(kinds, ",") {
		k = strings.ToLower(strings.TrimSpace(k))
		ok := false
		for _, n := range nativeKinds {
			ok = ok || k == n
		}
		if !ok {
			return DenyRule{}, fmt.Errorf("deny %q: unknown kind %q (want %s)", s, k, strings.Join(nativeKinds, ", "))
		}
		d.Kinds = append(d.Kinds, k)
	}
	return d, nil
}

func (d DenyRule) denies(kind, modPath string) bool {
	for _, k := range d.Kinds {
		if k == kind {
			return d.Patterns == "" || module.MatchPrefixPatterns(d.Patterns, modPath)
		}
	}
	return false
}

// NativeReport is the inventory of native and unsafe code in the build
// list of a module's packages, grouped by module.
type NativeReport struct {
	Patterns   []string       `json:"patterns"`
	CGOEnabled string         `json:"cgo_enabled"`
	GOOS       string         `json:"goos"`
	GOARCH     string         `json:"goarch"`
	Modules    []NativeModule `json:"modules"`
}

// NativeModule is one module of the build list with native code.
type NativeModule struct {
	Path     string          `json:"path"`
	Version  string          `json:"version,omitempty"`
	Main     bool            `json:"main,omitempty"`
	Replace  string          `json:"replace,omitempty"` // path[@version] it is replaced by
	Packages []NativePackage `json:"packages"`
}

// ID returns path@version, or the path for the main module.
func (m NativeModule) ID() string {
	if m.Version == "" {
		return m.Path
	}
	return m.Path + "@" + m.Version
}

// NativePackage is one package and what it uses, each with the first file
// (and line) where it does.
type NativePackage struct {
	ImportPath string      `json:"import_path"`
	Uses       []NativeUse `json:"uses"`
}

type NativeUse struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	Line int    `json:"line,omitempty"`
}

// listedPackage is what doctor reads of `go list -json`.
type listedPackage struct {
	ImportPath string
	Dir        string
	Standard   bool
	Module     *struct {
		Path    string
		Version string
		Main    bool
		Replace *struct{ Path, Version string }
	}
	GoFiles, CgoFiles, SFiles, SysoFiles []string
	Imports                              []string
	Error                                *struct{ Err string }
}

// checkNative lists the build list of patterns in dir with `go list -deps
// -json`, offline like go mod verify, and reads the listed files (never
// running or compiling anything) for cgo, unsafe, //go:linkname and
// assembly. The standard library is left out: it is the toolchain's.
func checkNative(ctx context.Context, goCmd string, environ []string, e *GoEnv, dir string, patterns []string, deny []DenyRule) (*NativeReport, []Finding) {
	if len(patterns) == 0 {
		patterns = []string{"./..."}
	}
	nr := &NativeReport{Patterns: patterns, CGOEnabled: e.Get("CGO_ENABLED"), GOOS: e.Get("GOOS"), GOARCH: e.Get("GOARCH"), Modules: []NativeModule{}}
	gomod := filepath.Join(dir, "go.mod")
	var fs []Finding
	listErr := func(msg string) {
		f := mustCheck("GH051").finding(msg)
		if len(deny) > 0 {
			// A gate that could not run must not pass: as severe as
			// what it would have found.
			f.Severity = mustCheck("GH050").Severity
			var rules []string
			for _, d := range deny {
				rules = append(rules, "--deny "+d.String())
			}
			f.Message += "; " + strings.Join(rules, ", ") + " could not be checked"
		}
		f.Source = FromFile
		f.Location = Location{Path: gomod}
		f.Fix = &Fix{Kind: Edit, Text: "download the dependencies and fix the build, then run doctor again", Command: "go mod download"}
		fs = append(fs, f)
	}

	args := append([]string{"list", "-e", "-deps", "-json=ImportPath,Dir,Standard,Module,GoFiles,CgoFiles,SFiles,SysoFiles,Imports,Error", "--"}, patterns...)
	cmd := exec.CommandContext(ctx, goCmd, args...)
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), environ...), "GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly", "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i]
		}
		listErr(fmt.Sprintf("go list -deps %s failed: %s", strings.Join(patterns, " "), firstNonEmpty(msg, err.Error())))
		return nr, fs
	}

	mods := map[string]*NativeModule{}
	var errs []string
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			listErr("go list -deps: " + err.Error())
			return nr, fs
		}
		if p.Error != nil {
			errs = append(errs, p.ImportPath+": "+p.Error.Err)
		}
		if p.Standard || p.Module == nil {
			continue
		}
		uses := packageUses(p)
		if len(uses) == 0 {
			continue
		}
		key := p.Module.Path + "@" + p.Module.Version
		m := mods[key]
		if m == nil {
			m = &NativeModule{Path: p.Module.Path, Version: p.Module.Version, Main: p.Module.Main}
			if r := p.Module.Replace; r != nil {
				m.Replace = modString(module.Version{Path: r.Path, Version: r.Version})
			}
			mods[key] = m
		}
		m.Packages = append(m.Packages, NativePackage{ImportPath: p.ImportPath, Uses: uses})
		for _, u := range uses {
			for _, d := range deny {
				if !d.denies(u.Kind, p.Module.Path) {
					continue
				}
				f := mustCheck("GH050").finding(fmt.Sprintf("%s (module %s) uses %s, denied by --deny %s", p.ImportPath, m.ID(), describeUse(u.Kind), d))
				f.Source = FromFile
				f.Location = Location{Path: u.Path, Line: u.Line}
				f.Fix = &Fix{Kind: Edit, Text: fmt.Sprintf("drop or replace the dependency on %s, or narrow the --deny rule after review", m.ID())}
				fs = append(fs, f)
				break
			}
		}
	}
	if len(errs) > 0 {
		msg := "go list -deps: " + errs[0]
		if len(errs) > 1 {
			msg += fmt.Sprintf(" (and %d more package errors)", len(errs)-1)
		}
		listErr(msg)
	}
	for _, m := range mods {
		sort.Slice(m.Packages, func(i, j int) bool { return m.Packages[i].ImportPath < m.Packages[j].ImportPath })
		nr.Modules = append(nr.Modules, *m)
	}
	sort.Slice(nr.Modules, func(i, j int) bool {
		a, b := nr.Modules[i], nr.Modules[j]
		if a.Main != b.Main {
			return a.Main
		}
		return a.ID() < b.ID()
	})
	return nr, fs
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func describeUse(kind string) string {
	switch kind {
	case UsesCgo:
		return `cgo (import "C")`
	case UsesUnsafe:
		return `unsafe (import "unsafe")`
	case UsesLinkname:
		return "//go:linkname"
	}
	return "assembly or prebuilt objects"
}

// packageUses reads the package's files for each kind of native code.
func packageUses(p listedPackage) []NativeUse {
	var uses []NativeUse
	join := func(n string) string { return filepath.Join(p.Dir, n) }
	goFiles := append(append([]string(nil), p.GoFiles...), p.CgoFiles...)
	if len(p.CgoFiles) > 0 {
		path, line := importLine(join(p.CgoFiles[0]), "C")
		uses = append(uses, NativeUse{Kind: UsesCgo, Path: path, Line: line})
	}
	for _, imp := range p.Imports {
		if imp != "unsafe" {
			continue
		}
		u := NativeUse{Kind: UsesUnsafe, Path: p.Dir}
		for _, f := range goFiles {
			if path, line := importLine(join(f), "unsafe"); line > 0 {
				u.Path, u.Line = path, line
				break
			}
		}
		uses = append(uses, u)
	}
	for _, f := range goFiles {
		if line := linknameLine(join(f)); line > 0 {
			uses = append(uses, NativeUse{Kind: UsesLinkname, Path: join(f), Line: line})
			break
		}
	}
	if asm := append(append([]string(nil), p.SFiles...), p.SysoFiles...); len(asm) > 0 {
		uses = append(uses, NativeUse{Kind: UsesAsm, Path: join(asm[0])})
	}
	return uses
}

// importLine returns the line at which file imports path, parsing only its
// imports; 0 if it does not.
func importLine(file, path string) (string, int) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, nil, parser.ImportsOnly)
	if err != nil {
		return file, 0
	}
	for _, imp := range f.Imports {
		if p, err := strconv.Unquote(imp.Path.Value); err == nil && p == path {
			return file, fset.Position(imp.Pos()).Line
		}
	}
	return file, 0
}

// linknameLine returns the first line of file with a //go:linkname
// directive, or 0.
func linknameLine(file string) int {
	fh, err := os.Open(file)
	if err != nil {
		return 0
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.HasPrefix(strings.TrimSpace(sc.Text()), "//go:linkname ") {
			return n
		}
	}
	return 0
}

var errNoModule = errors.New("the build list (--cgo-unsafe, --deny) is checked for a module: give --module")
