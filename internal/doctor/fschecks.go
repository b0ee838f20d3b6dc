package doctor

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// writers says who besides root may write a file with info fi, given the
// current user's uid: "others", "group", and "the current user" (only
// when that user is not root and owns the file).
func writers(fi fs.FileInfo, uid int) (others, group, user bool) {
	m := fi.Mode().Perm()
	others = m&0o002 != 0
	group = m&0o020 != 0
	if owner, ok := fileOwner(fi); ok && uid != 0 && owner == uid {
		user = m&0o200 != 0
	}
	return
}

func checkFiles(e *GoEnv, uid int, environ map[string]string) []Finding {
	var out []Finding
	out = append(out, checkGOROOT(e, uid)...)
	out = append(out, checkModCache(e)...)
	out = append(out, checkNetrc(e, environ)...)
	out = append(out, checkGoEnvFile(e)...)
	return out
}

func fileFinding(id, path string, sev Severity, msg string, fix *Fix) Finding {
	f := mustCheck(id).finding(msg)
	f.Severity = sev
	f.Source = FromFile
	f.Location = Location{Path: path}
	f.Fix = fix
	return f
}

// checkGOROOT reports GOROOT, its bin and pkg/tool directories, the tool
// directory and the binaries in bin when someone other than root may write
// them.
func checkGOROOT(e *GoEnv, uid int) []Finding {
	root := e.Get("GOROOT")
	if root == "" {
		return nil
	}
	paths := []string{root, filepath.Join(root, "bin"), filepath.Join(root, "pkg", "tool")}
	if td := e.Get("GOTOOLDIR"); td != "" {
		paths = append(paths, td)
	}
	if ents, err := os.ReadDir(filepath.Join(root, "bin")); err == nil {
		for _, ent := range ents {
			paths = append(paths, filepath.Join(root, "bin", ent.Name()))
		}
	}
	var out []Finding
	seen := map[string]bool{}
	for _, p := range paths {
		p = filepath.Clean(p)
		if seen[p] {
			continue
		}
		seen[p] = true
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		others, group, user := writers(fi, uid)
		switch {
		case others:
			out = append(out, fileFinding("GH020", p, Critical, p+" is writable by others",
				&Fix{Kind: Chmod, Text: "remove write permission for group and others", Command: "chmod go-w " + shellQuote(p)}))
		case group:
			out = append(out, fileFinding("GH020", p, High, p+" is writable by its group",
				&Fix{Kind: Chmod, Text: "remove write permission for group and others", Command: "chmod go-w " + shellQuote(p)}))
		case user:
			out = append(out, fileFinding("GH020", p, Medium, p+" is writable by the current user (not root)",
				&Fix{Kind: Chmod, Text: "install Go owned by root, so that a process running as you cannot replace the toolchain",
					Command: "sudo chown -R root:root " + shellQuote(root)}))
		}
	}
	return out
}

func checkModCache(e *GoEnv) []Finding {
	mc := e.Get("GOMODCACHE")
	if mc == "" {
		return nil
	}
	var out []Finding
	for _, p := range []string{mc, filepath.Join(mc, "cache"), filepath.Join(mc, "cache", "download")} {
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if others, _, _ := writers(fi, 0); others {
			out = append(out, fileFinding("GH021", p, High, p+" (module cache) is writable by others",
				&Fix{Kind: Chmod, Text: "remove write permission for others", Command: "chmod o-w " + shellQuote(p)}))
		}
	}
	return out
}

// netrcPath returns the .netrc the go command reads: $NETRC, else
// $HOME/.netrc.
func netrcPath(environ map[string]string) string {
	if p := environ["NETRC"]; p != "" {
		return p
	}
	if home := environ["HOME"]; home != "" {
		return filepath.Join(home, ".netrc")
	}
	return ""
}

func checkNetrc(e *GoEnv, environ map[string]string) []Finding {
	p := netrcPath(environ)
	if p == "" {
		return nil
	}
	fi, err := os.Stat(p)
	if err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	m := fi.Mode().Perm()
	used := ""
	if strings.Contains(e.Get("GOAUTH"), "netrc") {
		used = " (used by GOAUTH=netrc)"
	}
	fix := &Fix{Kind: Chmod, Text: "make it readable by its owner only", Command: "chmod 600 " + shellQuote(p)}
	switch {
	case m&0o004 != 0:
		return []Finding{fileFinding("GH022", p, High, fmt.Sprintf("%s%s is readable by others (mode %04o)", p, used, m), fix)}
	case m&0o040 != 0:
		return []Finding{fileFinding("GH022", p, Medium, fmt.Sprintf("%s%s is readable by its group (mode %04o)", p, used, m), fix)}
	}
	return nil
}

func checkGoEnvFile(e *GoEnv) []Finding {
	p := e.Get("GOENV")
	if p == "" || p == "off" {
		return nil
	}
	fi, err := os.Stat(p)
	if err != nil {
		return nil
	}
	if others, group, _ := writers(fi, 0); others || group {
		who := "its group"
		if others {
			who = "others"
		}
		return []Finding{fileFinding("GH023", p, High, fmt.Sprintf("%s (the go env file) is writable by %s", p, who),
			&Fix{Kind: Chmod, Text: "remove write permission for group and others", Command: "chmod go-w " + shellQuote(p)})}
	}
	return nil
}
