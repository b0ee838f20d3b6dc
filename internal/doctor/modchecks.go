package doctor

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// checkModule inspects the module in dir: its go.mod (via x/mod/modfile),
// its go.sum, and what `go mod verify` says about the module cache.
func checkModule(ctx context.Context, goCmd string, environ []string, e *GoEnv, dir string) ([]Finding, error) {
	gomod := filepath.Join(dir, "go.mod")
	data, err := os.ReadFile(gomod)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("module directory %s has no go.mod", dir)
		}
		return nil, err
	}
	mf, err := modfile.Parse(gomod, data, nil)
	if err != nil {
		return nil, fmt.Errorf("parsing go.mod: %v", err)
	}
	var out []Finding
	modFinding := func(id, path string, line int, msg string, fix *Fix) *Finding {
		f := mustCheck(id).finding(msg)
		f.Source = FromFile
		f.Location = Location{Path: path, Line: line}
		f.Fix = fix
		out = append(out, f)
		return &out[len(out)-1]
	}
	tidy := &Fix{Kind: Edit, Text: "record every dependency's hashes and commit go.sum", Command: "go mod tidy"}

	// Each requirement's go.mod hash must be in go.sum (the go command needs
	// it to load the module graph); a local replacement needs none.
	need := map[module.Version]int{} // → go.mod line
	local := map[string]bool{}
	for _, r := range mf.Replace {
		if r.New.Version == "" {
			local[r.Old.Path+"@"+r.Old.Version] = true
			modFinding("GH034", gomod, r.Syntax.Start.Line,
				fmt.Sprintf("replace %s => %s points at a local directory", modString(r.Old), r.New.Path),
				&Fix{Kind: Edit, Text: "drop the replacement before committing; use a go.work file for local development",
					Command: shellJoin([]string{"go", "mod", "edit", "-dropreplace=" + modString(r.Old)})})
		}
	}
	for _, r := range mf.Require {
		if local[r.Mod.Path+"@"] || local[r.Mod.Path+"@"+r.Mod.Version] {
			continue
		}
		need[replaced(mf, r.Mod)] = r.Syntax.Start.Line
	}
	gosum := filepath.Join(dir, "go.sum")
	sums, err := os.ReadFile(gosum)
	switch {
	case os.IsNotExist(err) && len(need) > 0:
		modFinding("GH030", gomod, 0, fmt.Sprintf("%s requires %d modules but there is no go.sum", gomod, len(need)), tidy)
	case err != nil && !os.IsNotExist(err):
		return nil, err
	case err == nil:
		have := goSumModHashes(sums)
		var missing []module.Version
		for m := range need {
			if !have[m] {
				missing = append(missing, m)
			}
		}
		if len(missing) > 0 {
			sort.Slice(missing, func(i, j int) bool { return need[missing[i]] < need[missing[j]] })
			names := make([]string, 0, 3)
			for i, m := range missing {
				if i == 3 {
					names = append(names, fmt.Sprintf("and %d more", len(missing)-3))
					break
				}
				names = append(names, m.Path+"@"+m.Version)
			}
			modFinding("GH031", gomod, need[missing[0]],
				fmt.Sprintf("go.sum has no hash for %d required modules: %s", len(missing), strings.Join(names, ", ")), tidy)
		}
	}

	if mf.Toolchain != nil {
		f := modFinding("GH035", gomod, mf.Toolchain.Syntax.Start.Line,
			fmt.Sprintf("go.mod asks for toolchain %s", mf.Toolchain.Name), nil)
		if toolchainDownloads(e.Get("GOTOOLCHAIN"), e.Get("GOVERSION")) {
			f.Severity = Low
			f.Message += fmt.Sprintf(", which GOTOOLCHAIN=%s lets the go command download and run", e.Get("GOTOOLCHAIN"))
			f.Fix = goEnvFix(e.Origin("GOTOOLCHAIN"), "GOTOOLCHAIN", "local")
		}
	}

	if len(mf.Require) > 0 {
		out = append(out, goModVerify(ctx, goCmd, environ, dir, gomod)...)
	}
	return out, nil
}

func modString(m module.Version) string {
	if m.Version == "" {
		return m.Path
	}
	return m.Path + "@" + m.Version
}

// replaced returns the module version that provides m after replace
// directives that name another module version.
func replaced(mf *modfile.File, m module.Version) module.Version {
	for _, r := range mf.Replace {
		if r.Old.Path == m.Path && (r.Old.Version == "" || r.Old.Version == m.Version) && r.New.Version != "" {
			return r.New
		}
	}
	return m
}

// goSumModHashes returns the module versions that have a go.mod hash in a
// go.sum file ("path version/go.mod h1:...").
func goSumModHashes(data []byte) map[module.Version]bool {
	have := map[module.Version]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 {
			continue
		}
		if v, ok := strings.CutSuffix(f[1], "/go.mod"); ok {
			have[module.Version{Path: f[0], Version: v}] = true
		}
	}
	return have
}

var modifiedRE = regexp.MustCompile(`^(\S+) (\S+): (zip|dir) has been modified \((.*)\)$`)

// goModVerify runs `go mod verify` offline: GOPROXY=off so that doctor never
// downloads, GOTOOLCHAIN=local so that go.mod cannot make it switch
// toolchains, and no GOFLAGS or workspace that could change the answer.
func goModVerify(ctx context.Context, goCmd string, environ []string, dir, gomod string) []Finding {
	cmd := exec.CommandContext(ctx, goCmd, "mod", "verify")
	cmd.Dir = dir
	cmd.Env = append(append([]string(nil), environ...), "GOPROXY=off", "GOTOOLCHAIN=local", "GOFLAGS=", "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return nil
	}
	var fs []Finding
	var other []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if m := modifiedRE.FindStringSubmatch(line); m != nil {
			f := mustCheck("GH032").finding(fmt.Sprintf("%s@%s: the %s in the module cache has been modified", m[1], m[2], m[3]))
			f.Source = FromFile
			f.Location = Location{Path: m[4]}
			f.Fix = &Fix{Kind: Edit, Text: "remove the module cache and download again, then find out what changed it", Command: "go clean -modcache"}
			fs = append(fs, f)
		} else if line != "" {
			other = append(other, line)
		}
	}
	if len(fs) == 0 {
		msg := "go mod verify failed"
		if len(other) > 0 {
			msg += ": " + other[0]
		}
		f := mustCheck("GH033").finding(msg)
		f.Source = FromFile
		f.Location = Location{Path: gomod}
		f.Fix = &Fix{Kind: Edit, Text: "download the dependencies, then run doctor again", Command: "go mod download"}
		fs = append(fs, f)
	}
	return fs
}
