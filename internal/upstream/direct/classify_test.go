package direct

import (
	"errors"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/upstream"
)

// A child's message is "not found" (the go command may fall through) only
// when it says so; a refusal or an outage is an error. Port numbers that
// look like statuses must not decide it: tests run on random ports.
func TestChildErrorClassification(t *testing.T) {
	s := &Source{}
	for _, tt := range []struct {
		msg      string
		notFound bool
	}{
		{"fatal: unable to access 'https://git.corp.test:8443/x.git/': The requested URL returned error: 403", false},
		{"fatal: unable to access 'https://git.corp.test/x.git/': The requested URL returned error: 401", false},
		{"reading https://git.corp.test/x?go-get=1: 404 Not Found", true},
		{"go: git.corp.test/x@v9.9.9: invalid version: unknown revision v9.9.9", true},
		{"fatal: repository 'https://git.corp.test:40312/x.git/' not found", true},
		{"go: git.corp.test/x@v1.0.0: unknown revision v1.0.0 (from https://127.0.0.1:44031/x.git)", true},
		{"proxyconnect tcp: dial tcp 127.0.0.1:40401: connect: connection refused", false},
		{"fatal: could not read Username for 'https://git.corp.test:14035': terminal prompts disabled", false},
		{"exit status 1: something unexpected on port 40404", false},
		// Version numbers and path elements that hold the digits are not statuses.
		{"go: git.corp.test/x@v1.403.0: invalid version: unknown revision v1.403.0", true},
		{"go: git.corp.test/team-401/x@v1.0.0: invalid version: unknown revision v1.0.0", true},
		{"go: git.corp.test/x@v0.0.0-20260101000000-401abc: invalid version: unknown revision 401abc", true},
		{"reading https://git.corp.test/x/@v/list: 404 Not Found (HTTP 403)", false},
		{"server response: (403) Forbidden", false},
		// A VCS-qualified path whose repository does not exist.
		{"go: git.corp.test/x.git@latest: no secure protocol found for repository", true},
	} {
		err := s.childError("download", "git.corp.test/x@v1.0.0", tt.msg)
		if got := errors.Is(err, upstream.ErrNotFound); got != tt.notFound {
			t.Errorf("%q: not found = %v, want %v", tt.msg, got, tt.notFound)
		}
	}
}
