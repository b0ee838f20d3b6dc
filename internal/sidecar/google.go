package sidecar

import (
	"context"
	"fmt"
	"strings"

	"cloud.google.com/go/auth"
	"cloud.google.com/go/auth/credentials"
	"cloud.google.com/go/auth/credentials/idtoken"
)

// googleKeySource mints OIDC ID tokens for an audience from a Google
// service-account JSON key, with Google's own library: it signs a JWT
// assertion with the key, trades it at the key file's token_uri for an ID
// token, and caches it, refreshing ahead of expiry (3m45s before, in the
// background). This is what a Cloud Run service behind IAM expects.
type googleKeySource struct {
	creds *auth.Credentials
}

// NewGoogleKeySource loads a service-account key file. Only the
// service_account type is accepted: other credential types can name
// arbitrary URLs that the library would fetch from (see Google's
// "externally sourced credentials" advice).
func NewGoogleKeySource(keyFile, audience string) (Source, error) {
	creds, err := idtoken.NewCredentialsFromFile(credentials.ServiceAccount, keyFile, &idtoken.Options{Audience: audience})
	if err != nil {
		return nil, fmt.Errorf("google-key %s: %v", keyFile, firstLine(err.Error()))
	}
	return &googleKeySource{creds: creds}, nil
}

func (s *googleKeySource) Kind() string { return "google-key" }

func (s *googleKeySource) Token(ctx context.Context) (string, error) {
	t, err := s.creds.Token(ctx)
	if err != nil {
		return "", fmt.Errorf("google-key: %v", firstLine(err.Error()))
	}
	if err := checkToken(t.Value); err != nil {
		return "", fmt.Errorf("google-key: %v", err)
	}
	return t.Value, nil
}

// firstLine keeps error messages to one line: libraries append response
// bodies after a newline.
func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}
