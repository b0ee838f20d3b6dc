package inspect

import (
	"encoding/json"
	"regexp"
	"strings"
)

// checkDockerfile refuses a Dockerfile that makes the classic builder
// connect somewhere: ADD (or ONBUILD ADD) with a source that is a URL or
// could expand to one, and FROM or COPY --from naming an image on a registry
// the scope does not name. buildargs is the build's buildargs parameter.
//
// It reads the file as dockerd's parser does where that matters, and more
// suspiciously where it could differ: instructions in any case, line
// continuations with either escape character (the escape directive may
// choose `), comment lines inside continuations, the JSON and the plain form
// at once, and quotes and escapes removed before looking for "://".
func checkDockerfile(src []byte, buildargs string, scope Scope) *Violation {
	args := map[string]string{}
	if buildargs != "" {
		var m map[string]*string
		if err := json.Unmarshal([]byte(buildargs), &m); err != nil {
			return deny("build-context", "buildargs is not a JSON object of strings")
		}
		for k, v := range m {
			if v != nil {
				args[k] = *v
			}
		}
	}
	text := strings.TrimPrefix(string(src), "\ufeff")
	for _, esc := range []byte{'\\', '`'} {
		if v := checkInstructions(logicalLines(text, esc), args, scope); v != nil {
			return v
		}
	}
	return nil
}

// logicalLines joins continued lines and drops comment lines, as dockerd's
// parser does with escape character esc.
func logicalLines(text string, esc byte) []string {
	var out []string
	var cur strings.Builder
	cont := false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		trimmed := strings.TrimLeft(line, " \t")
		if strings.HasPrefix(trimmed, "#") || (cont && strings.TrimSpace(line) == "") {
			continue
		}
		if t := strings.TrimRight(line, " \t"); strings.HasSuffix(t, string(esc)) {
			cur.WriteString(t[:len(t)-1])
			cont = true
			continue
		}
		cur.WriteString(line)
		out = append(out, cur.String())
		cur.Reset()
		cont = false
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

func checkInstructions(lines []string, args map[string]string, scope Scope) *Violation {
	stages := map[string]bool{}
	global := map[string]string{} // ARGs before the first FROM
	seenFrom := false
	for _, line := range lines {
		instr, rest := splitInstruction(line)
		if instr == "onbuild" {
			// A trigger runs in builds FROM this image, perhaps elsewhere.
			instr, rest = splitInstruction(rest)
			if instr == "add" {
				if v := checkAdd(rest); v != nil {
					v.Reason = "ONBUILD " + v.Reason
					return v
				}
			}
			continue
		}
		switch instr {
		case "arg":
			if !seenFrom {
				for _, w := range strings.Fields(rest) {
					k, def, _ := strings.Cut(w, "=")
					if v, ok := args[k]; ok {
						def = v
					}
					global[k] = strings.Trim(def, `"'`)
				}
			}
		case "add":
			if v := checkAdd(rest); v != nil {
				return v
			}
		case "from":
			seenFrom = true
			words := withoutFlags(strings.Fields(rest))
			if len(words) == 0 {
				continue
			}
			img := expandArgs(words[0], global)
			if v := checkImageRef(img, stages, scope, "FROM"); v != nil {
				return v
			}
			if len(words) >= 3 && strings.EqualFold(words[1], "as") {
				stages[strings.ToLower(words[2])] = true
			}
		case "copy":
			for _, w := range strings.Fields(rest) {
				if !strings.HasPrefix(w, "--") {
					break
				}
				if strings.HasPrefix(strings.ToLower(w), "--from=") {
					if v := checkImageRef(strings.Trim(w[len("--from="):], `"'`), stages, scope, "COPY --from"); v != nil {
						return v
					}
				}
			}
		}
	}
	return nil
}

// splitInstruction returns the lower-cased instruction of a logical line and
// the rest.
func splitInstruction(line string) (string, string) {
	line = strings.TrimSpace(line)
	i := strings.IndexFunc(line, func(r rune) bool { return r == ' ' || r == '\t' || r == '\v' || r == '\f' || r == '\r' || r > 0x7f })
	if i < 0 {
		return strings.ToLower(line), ""
	}
	return strings.ToLower(line[:i]), strings.TrimSpace(line[i:])
}

func withoutFlags(words []string) []string {
	for len(words) > 0 && strings.HasPrefix(words[0], "--") {
		words = words[1:]
	}
	return words
}

// checkAdd refuses an ADD whose source is a URL or holds a variable, which
// could expand to one. The last word is the destination, where variables
// are fine; a URL is refused everywhere.
func checkAdd(rest string) *Violation {
	words := withoutFlags(strings.Fields(rest))
	forms := [][]string{words}
	if j := strings.TrimSpace(strings.Join(words, " ")); strings.HasPrefix(j, "[") {
		var list []string
		if json.Unmarshal([]byte(j), &list) == nil {
			forms = append(forms, list)
		}
	}
	for _, ws := range forms {
		for i, w := range ws {
			if isURL(w) {
				return deny("no-remote-fetch", "ADD %s makes dockerd fetch a URL; download it in a RUN step or add the file to the context", w)
			}
			if i < len(ws)-1 && strings.Contains(w, "$") {
				return deny("no-remote-fetch", "ADD source %s holds a variable, which could expand to a URL that dockerd would fetch", w)
			}
		}
	}
	return nil
}

// isURL reports whether a word, with quotes and escape characters removed,
// holds a scheme separator.
func isURL(w string) bool {
	w = strings.NewReplacer(`"`, "", `'`, "", `\`, "", "`", "").Replace(w)
	return strings.Contains(w, "://")
}

var argRef = regexp.MustCompile(`\$(?:([A-Za-z_][A-Za-z0-9_]*)|\{([A-Za-z_][A-Za-z0-9_]*)\})`)

func expandArgs(s string, vars map[string]string) string {
	return argRef.ReplaceAllStringFunc(s, func(m string) string {
		sub := argRef.FindStringSubmatch(m)
		return vars[sub[1]+sub[2]]
	})
}

// checkImageRef refuses an image that dockerd would pull from a registry the
// scope does not name; build stages, stage numbers and scratch pass.
func checkImageRef(ref string, stages map[string]bool, scope Scope, what string) *Violation {
	if strings.Contains(ref, "$") {
		return deny("registry-allowlist", "%s %s holds a variable gatehouse cannot expand, which could name any registry", what, ref)
	}
	l := strings.ToLower(ref)
	if l == "scratch" || stages[l] || strings.Trim(l, "0123456789") == "" {
		return nil
	}
	return checkRegistry(ref, scope, what+": pull from")
}
