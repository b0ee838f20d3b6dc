package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse-dev/gatehouse/internal/auth"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/gatehouse-dev/gatehouse/internal/reqlog"
)

// With no rate settings, an identity may make a build's burst of
// requests (2000) at once, and is refused with 429 beyond it; rate_limit
// = 0 turns the limit off.
func TestDefaultRateLimit(t *testing.T) {
	tok, hash, err := auth.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name  string
		limit *int64
		want  int // requests before the first 429; 0: none
	}{
		{"default", nil, config.DefaultRateBurst},
		{"off", new(int64), 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.DefaultServe()
			cfg.Tokens = []config.Token{{Name: "ci", Hash: hash, Groups: []string{"build"}}}
			if tt.limit != nil {
				cfg.RateLimit = config.Int(*tt.limit)
			}
			az, err := buildAuthz(context.Background(), &cfg.Access, [2]auth.Networks{}, false, slog.New(slog.DiscardHandler), nil)
			if err != nil {
				t.Fatal(err)
			}
			h := az.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			first429 := 0
			for i := 1; i <= config.DefaultRateBurst+1000 && first429 == 0; i++ {
				req := httptest.NewRequest("GET", "/example.com/m/@v/list", nil)
				req.Header.Set("Authorization", "Bearer "+tok)
				req = req.WithContext(reqlog.With(req.Context(), &reqlog.Entry{}))
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code == http.StatusTooManyRequests {
					first429 = i
				}
			}
			if tt.want == 0 && first429 != 0 {
				t.Errorf("429 at request %d with the limit off", first429)
			}
			// The rate refills a few tokens while the loop runs.
			if tt.want != 0 && (first429 <= tt.want || first429 > tt.want+1000) {
				t.Errorf("first 429 at request %d, want soon after %d", first429, tt.want)
			}
		})
	}
}
