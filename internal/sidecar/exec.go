package sidecar

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
)

// execTimeout bounds one run of a token command.
const execTimeout = 30 * time.Second

// NewExecSource runs command (words separated by spaces, no shell) and
// uses its standard output as the token, reusing it for ttl or until the
// token's own expiry if it is a JWT, whichever is sooner.
func NewExecSource(command string, ttl time.Duration) (Source, error) {
	argv := strings.Fields(command)
	if len(argv) == 0 {
		return nil, errors.New("token-exec: empty command")
	}
	if ttl <= 0 {
		ttl = 5 * time.Minute
	}
	return &cached{kind: "exec", ttl: ttl, now: time.Now, fetch: func(ctx context.Context) (string, time.Time, error) {
		return runTokenCommand(ctx, argv)
	}}, nil
}

func runTokenCommand(ctx context.Context, argv []string) (string, time.Time, error) {
	ctx, cancel := context.WithTimeout(ctx, execTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		// Only the command's name and how it failed: its output could hold
		// a secret.
		if ctx.Err() == context.DeadlineExceeded {
			return "", time.Time{}, fmt.Errorf("token-exec: %s took longer than %v", argv[0], execTimeout)
		}
		return "", time.Time{}, fmt.Errorf("token-exec: %s failed: %v", argv[0], err)
	}
	tok := strings.TrimSpace(stdout.String())
	if err := checkToken(tok); err != nil {
		return "", time.Time{}, fmt.Errorf("token-exec: %s printed no usable token: %v", argv[0], err)
	}
	return tok, jwtExpiry(tok), nil
}
