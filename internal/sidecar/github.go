package sidecar

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// NewGitHubActionsSource gets OIDC tokens for audience from a GitHub
// Actions job's token endpoint (the job needs `permissions: id-token:
// write`, which sets ACTIONS_ID_TOKEN_REQUEST_URL and _TOKEN).
func NewGitHubActionsSource(audience string, getenv func(string) string) (Source, error) {
	if getenv("ACTIONS_ID_TOKEN_REQUEST_URL") == "" || getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN") == "" {
		return nil, errors.New("github-actions: ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN are not set (give the job `permissions: id-token: write`)")
	}
	client := &http.Client{Timeout: 30 * time.Second}
	return &cached{kind: "github-actions", now: time.Now, fetch: func(ctx context.Context) (string, time.Time, error) {
		return fetchGitHubToken(ctx, client, getenv("ACTIONS_ID_TOKEN_REQUEST_URL"), getenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN"), audience)
	}}, nil
}

func fetchGitHubToken(ctx context.Context, client *http.Client, endpoint, bearer, audience string) (string, time.Time, error) {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return "", time.Time{}, errors.New("github-actions: ACTIONS_ID_TOKEN_REQUEST_URL is not an http(s) URL")
	}
	q := u.Query()
	q.Set("audience", audience)
	u.RawQuery = q.Encode()
	req, err := http.NewRequestWithContext(ctx, "GET", u.String(), nil)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("github-actions: %v", err)
	}
	req.Header.Set("Authorization", "Bearer "+bearer)
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("github-actions: token request failed: %v", errors.Unwrap(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", time.Time{}, fmt.Errorf("github-actions: token endpoint answered %s", resp.Status)
	}
	var body struct {
		Value string `json:"value"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body); err != nil || body.Value == "" {
		return "", time.Time{}, errors.New("github-actions: token endpoint sent no token")
	}
	return body.Value, jwtExpiry(body.Value), nil
}
