package sidecar

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"
)

var osGetenv = os.Getenv

// envSource is a token from an environment variable, read once: a
// process's environment does not change.
type envSource struct{ token string }

// NewEnvSource reads the token from the environment variable name.
func NewEnvSource(name string, getenv func(string) string) (Source, error) {
	tok := strings.TrimSpace(getenv(name))
	if tok == "" {
		return nil, fmt.Errorf("token-env: environment variable %s is not set or empty", name)
	}
	if err := checkToken(tok); err != nil {
		return nil, fmt.Errorf("token-env: %s: %v", name, err)
	}
	return envSource{tok}, nil
}

func (s envSource) Token(context.Context) (string, error) { return s.token, nil }
func (s envSource) Kind() string                          { return "env" }

// fileSource is a token kept in a file and re-read whenever the file
// changes, so a rotated token (a Kubernetes projected token, a file a
// cron job rewrites) is picked up without a restart.
type fileSource struct {
	path string

	mu      sync.Mutex
	token   string
	modTime time.Time
	size    int64
}

// NewFileSource reads the token from path, failing now if it cannot.
func NewFileSource(path string) (Source, error) {
	s := &fileSource{path: path}
	if _, err := s.Token(context.Background()); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *fileSource) Kind() string { return "file" }

func (s *fileSource) Token(context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fi, err := os.Stat(s.path)
	if err != nil {
		return "", fmt.Errorf("token-file %s: %v", s.path, errors.Unwrap(err))
	}
	if s.token != "" && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		return s.token, nil
	}
	if fi.Size() > 64<<10 {
		return "", fmt.Errorf("token-file %s: larger than 64 KiB, not a token", s.path)
	}
	data, err := os.ReadFile(s.path)
	if err != nil {
		return "", fmt.Errorf("token-file %s: %v", s.path, errors.Unwrap(err))
	}
	tok := strings.TrimSpace(string(data))
	if err := checkToken(tok); err != nil {
		return "", fmt.Errorf("token-file %s: %v", s.path, err)
	}
	s.token, s.modTime, s.size = tok, fi.ModTime(), fi.Size()
	return tok, nil
}
