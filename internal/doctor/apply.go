package doctor

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
)

// An Applied is the outcome of one fix under --fix --apply.
type Applied struct {
	Command string
	Err     error // nil when it ran
}

// GoEnvWrites returns the distinct go env -w fixes of findings, in order,
// and the settings for which findings propose different values (those are
// left to a person: which value is right depends on intent).
func GoEnvWrites(findings []Finding) (fixes []*Fix, conflicts []string) {
	byKey := map[string]*Fix{}
	bad := map[string]bool{}
	var keys []string
	for _, f := range findings {
		fx := f.Fix
		if fx == nil || fx.Kind != GoEnvWrite || len(fx.Args) != 4 {
			continue
		}
		key, _, _ := strings.Cut(fx.Args[3], "=")
		if prev, ok := byKey[key]; ok {
			if prev.Args[3] != fx.Args[3] {
				bad[key] = true
			}
			continue
		}
		byKey[key] = fx
		keys = append(keys, key)
	}
	for _, k := range keys {
		if bad[k] {
			conflicts = append(conflicts, k)
			continue
		}
		fixes = append(fixes, byKey[k])
	}
	return fixes, conflicts
}

// Apply runs the go env -w fixes of findings with goCmd and environ (the
// same ones the report was made with, so the same GOENV file changes), and
// nothing else.
func Apply(ctx context.Context, goCmd string, environ []string, findings []Finding) []Applied {
	if goCmd == "" {
		goCmd = "go"
	}
	fixes, _ := GoEnvWrites(findings)
	var out []Applied
	for _, fx := range fixes {
		// Args is {"go", "env", "-w", KEY=VALUE}, built by goEnvFix.
		cmd := exec.CommandContext(ctx, goCmd, fx.Args[1:]...)
		cmd.Env = append(append([]string(nil), environ...), "GOTOOLCHAIN=local")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		if err != nil {
			msg := strings.TrimSpace(stderr.String())
			if i := strings.IndexByte(msg, '\n'); i >= 0 {
				msg = msg[:i]
			}
			err = fmt.Errorf("%v: %s", err, msg)
		}
		out = append(out, Applied{Command: fx.Command, Err: err})
	}
	return out
}
