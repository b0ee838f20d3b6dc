package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"cloud.google.com/go/auth"
)

// googleTokenURL is Google's token endpoint, used when a key names none.
const googleTokenURL = "https://oauth2.googleapis.com/token"

// googleKeySource mints OIDC ID tokens for an audience from a Google
// service-account JSON key with Google's own library
// (cloud.google.com/go/auth): it signs a JWT assertion with the key, trades
// it at the key file's token_uri for an ID token ("2-legged OAuth" with
// target_audience, as credentials/idtoken does for service accounts), and
// caches it, refreshing ahead of expiry (3m45s before, in the background).
// This is what a Cloud Run service behind IAM expects.
//
// The root auth package is used rather than credentials/idtoken, which does
// the same for service accounts but links gRPC and OpenTelemetry and
// doubles the binary.
type googleKeySource struct {
	tp auth.TokenProvider
}

// serviceAccountKey is the part of a key file the token exchange needs.
type serviceAccountKey struct {
	Type           string `json:"type"`
	ClientEmail    string `json:"client_email"`
	PrivateKey     string `json:"private_key"`
	PrivateKeyID   string `json:"private_key_id"`
	TokenURI       string `json:"token_uri"`
	UniverseDomain string `json:"universe_domain"`
}

// NewGoogleKeySource loads a service-account key file. Only the
// service_account type is accepted: other credential types can name
// arbitrary URLs that a library would fetch from (see Google's "externally
// sourced credentials" advice).
func NewGoogleKeySource(keyFile, audience string) (Source, error) {
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("google-key %s: %v", keyFile, errors.Unwrap(err))
	}
	var k serviceAccountKey
	if err := json.Unmarshal(data, &k); err != nil {
		return nil, fmt.Errorf("google-key %s: not a JSON key file", keyFile)
	}
	switch {
	case k.Type != "service_account":
		return nil, fmt.Errorf("google-key %s: type is %q; only service_account keys are accepted", keyFile, k.Type)
	case k.ClientEmail == "" || k.PrivateKey == "":
		return nil, fmt.Errorf("google-key %s: client_email or private_key missing", keyFile)
	case k.UniverseDomain != "" && k.UniverseDomain != "googleapis.com":
		return nil, fmt.Errorf("google-key %s: universe_domain %q is not supported", keyFile, k.UniverseDomain)
	}
	if k.TokenURI == "" {
		k.TokenURI = googleTokenURL
	}
	tp, err := auth.New2LOTokenProvider(&auth.Options2LO{
		Email:         k.ClientEmail,
		PrivateKey:    []byte(k.PrivateKey),
		PrivateKeyID:  k.PrivateKeyID,
		TokenURL:      k.TokenURI,
		UseIDToken:    true,
		PrivateClaims: map[string]any{"target_audience": audience},
		Client:        &http.Client{Timeout: 30 * time.Second},
	})
	if err != nil {
		return nil, fmt.Errorf("google-key %s: %v", keyFile, firstLine(err.Error()))
	}
	return &googleKeySource{tp: auth.NewCachedTokenProvider(tp, nil)}, nil
}

func (s *googleKeySource) Kind() string { return "google-key" }

func (s *googleKeySource) Token(ctx context.Context) (string, error) {
	t, err := s.tp.Token(ctx)
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
