package sidecar

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"cloud.google.com/go/compute/metadata"
)

// NewMetadataSource gets ID tokens for audience from the GCP metadata
// server (GCE, GKE with workload identity, Cloud Run, Cloud Build), with
// Google's metadata client, which honours GCE_METADATA_HOST.
func NewMetadataSource(audience string) Source {
	client := metadata.NewClient(&http.Client{Timeout: 30 * time.Second})
	suffix := "instance/service-accounts/default/identity?" + url.Values{"audience": {audience}, "format": {"full"}}.Encode()
	return &cached{kind: "gcp-metadata", now: time.Now, fetch: func(ctx context.Context) (string, time.Time, error) {
		tok, err := client.GetWithContext(ctx, suffix)
		if err != nil {
			return "", time.Time{}, fmt.Errorf("gcp-metadata: %v", firstLine(err.Error()))
		}
		return tok, jwtExpiry(tok), nil
	}}
}
