package coldbench

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/testproxy"
	"golang.org/x/mod/module"
)

// hermeticModules is the number of modules the generated project requires.
const hermeticModules = 75

// genModule is one generated module version.
type genModule struct {
	path, version string
	size          int              // bytes of source, before compression
	requires      []module.Version // its own go.mod's requirements
	time          time.Time
}

// hermeticProject returns the generated project's modules: the shapes a real
// build list has (case-escaped paths, /vN majors, gopkg.in, pseudo-versions),
// sizes spread like a real one's (source of 4-9 MB in three, like
// golang.org/x/text or x/sys, 1-2.4 MB in a dozen, 20-400 KB in the rest), and a module graph in
// which 15 modules require an older version of another one, whose go.mod
// the go command then loads too. The first hermeticModules entries are the
// versions the project selects; the rest are those older versions.
func hermeticProject() []genModule {
	base := time.Date(2024, 3, 1, 10, 0, 0, 0, time.UTC)
	var mods []genModule
	for i := range hermeticModules {
		m := genModule{time: base.Add(time.Duration(i) * 37 * time.Hour)}
		switch {
		case i%25 == 11:
			m.path, m.version = fmt.Sprintf("gopkg.in/bench%02d.v3", i), "v3.0.1"
		case i%10 == 3:
			m.path, m.version = fmt.Sprintf("github.com/Bench-Org/Caps%02d", i), fmt.Sprintf("v1.%d.0", i%7)
		case i%10 == 5:
			m.path, m.version = fmt.Sprintf("example.com/bench/mod%02d/v2", i), fmt.Sprintf("v2.%d.3", i%5)
		case i%10 == 7:
			m.path = fmt.Sprintf("github.com/benchorg/pseudo%02d", i)
			m.version = "v0.0.0-" + m.time.Format("20060102150405") + fmt.Sprintf("-%012x", uint64(i)*0x9e3779b97f4a)
		default:
			m.path, m.version = fmt.Sprintf("github.com/benchorg/mod%02d", i), fmt.Sprintf("v1.%d.%d", i%4, i%3+1)
		}
		switch {
		case i < 3:
			m.size = []int{9 << 20, 6 << 20, 4 << 20}[i]
		case i < 15:
			m.size = 1<<20 + (i-3)*128<<10
		default:
			m.size = 20<<10 + (i*7919)%380<<10
		}
		mods = append(mods, m)
	}
	// Modules 20-34 require an older version of modules 40-54 (a bumped
	// patch or minor in the project's go.mod, as real projects have).
	for i := 20; i < 35; i++ {
		dep := mods[i+20]
		older := olderVersion(dep.version)
		if older == "" {
			continue
		}
		mods[i].requires = append(mods[i].requires, module.Version{Path: dep.path, Version: older})
		mods = append(mods, genModule{path: dep.path, version: older, size: dep.size, time: dep.time.Add(-24 * time.Hour)})
	}
	return mods
}

// olderVersion returns a version below v of the same major, or "" for a pseudo-version.
func olderVersion(v string) string {
	if module.IsPseudoVersion(v) {
		return ""
	}
	major, rest, _ := strings.Cut(v, ".")
	return major + ".0.0-" + strings.ReplaceAll(rest, ".", "-") // a prerelease sorts below v
}

// goMod is the project's go.mod: every selected module, as go mod tidy would list them.
func goModOf(mods []genModule) string {
	var b strings.Builder
	b.WriteString("module example.com/coldbench/hermetic\n\ngo 1.22\n\nrequire (\n")
	for _, m := range mods[:hermeticModules] {
		fmt.Fprintf(&b, "\t%s %s\n", m.path, m.version)
	}
	b.WriteString(")\n")
	return b.String()
}

// addTo serves the modules from up; it returns the bytes of zips served.
func addTo(up *testproxy.Server, mods []genModule) (int, error) {
	total := 0
	for i, m := range mods {
		// A module that requires an older version declares go 1.16, as
		// many real ones still do: its graph is not pruned, so the go
		// command loads the older version's go.mod too (and only that).
		goVersion := "1.21"
		if len(m.requires) > 0 {
			goVersion = "1.16"
		}
		var gomod strings.Builder
		fmt.Fprintf(&gomod, "module %s\n\ngo %s\n", m.path, goVersion)
		for _, r := range m.requires {
			fmt.Fprintf(&gomod, "\nrequire %s %s\n", r.Path, r.Version)
		}
		files := sourceFiles(m.path, m.size, uint64(i))
		files["go.mod"] = gomod.String()
		if err := up.Add(m.path, m.version, files, m.time); err != nil {
			return 0, fmt.Errorf("%s@%s: %v", m.path, m.version, err)
		}
		total += len(up.Artifacts(m.path, m.version).Zip)
	}
	return total, nil
}

// sourceFiles returns Go-looking source of about size bytes in 48 KB files:
// words drawn from a vocabulary, so it compresses (2.4×) nearly as well as
// real source and hashing and unzipping it cost about what they would.
func sourceFiles(modPath string, size int, seed uint64) map[string]string {
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	vocab := make([]string, 3000)
	for i := range vocab {
		n := 2 + rng.IntN(9)
		w := make([]byte, n)
		for j := range w {
			w[j] = byte('a' + rng.IntN(26))
		}
		vocab[i] = string(w)
	}
	pkg := strings.NewReplacer("/", "_", ".", "_", "-", "_").Replace(strings.ToLower(modPath))
	files := map[string]string{}
	const fileSize = 48 << 10
	for n := 0; size > 0; n++ {
		var b strings.Builder
		fmt.Fprintf(&b, "package %s\n\n", pkg[strings.LastIndex(pkg, "_")+1:])
		for b.Len() < min(size, fileSize) {
			fmt.Fprintf(&b, "// %s %s %s %s\nfunc %s%d(%s int) int { return %s + %d }\n\n",
				vocab[rng.IntN(len(vocab))], vocab[rng.IntN(len(vocab))], vocab[rng.IntN(len(vocab))], vocab[rng.IntN(len(vocab))],
				vocab[rng.IntN(len(vocab))], b.Len(), vocab[rng.IntN(len(vocab))], vocab[rng.IntN(len(vocab))], rng.IntN(1000))
		}
		size -= b.Len()
		files[fmt.Sprintf("f%03d.go", n)] = b.String()
	}
	return files
}
