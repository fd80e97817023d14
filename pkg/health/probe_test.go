package health_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/health"
)

func TestProbe(t *testing.T) {
	t.Parallel()

	failing := health.New()
	failing.AddReadiness("kafka", func(context.Context) error { return errors.New("broker down") })
	mux := http.NewServeMux()
	failing.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close() // nothing listens at closed.URL any more

	hanging := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		<-r.Context().Done()
	}))
	t.Cleanup(hanging.Close)

	tests := []struct {
		name     string
		url      string
		wantText []string // empty: want success
	}{
		{name: "live", url: srv.URL + "/healthz"},
		{name: "not ready names the check", url: srv.URL + "/readyz", wantText: []string{"503", "broker down"}},
		{name: "not found", url: srv.URL + "/nope", wantText: []string{"404"}},
		{name: "nothing listening", url: closed.URL + "/healthz", wantText: []string{"health probe"}},
		{name: "no answer in time", url: hanging.URL, wantText: []string{"deadline exceeded"}},
		{name: "bad url", url: "::", wantText: []string{"missing protocol scheme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()

			err := health.Probe(ctx, tt.url)
			if len(tt.wantText) == 0 {
				if err != nil {
					t.Errorf("Probe: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Probe succeeded, want an error")
			}
			for _, text := range tt.wantText {
				if !strings.Contains(err.Error(), text) {
					t.Errorf("error %q does not contain %q", err, text)
				}
			}
		})
	}
}
