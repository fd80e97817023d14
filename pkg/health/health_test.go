package health_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/health"
)

func ok(context.Context) error { return nil }

// get serves one GET request to path through a mux with h registered, next to
// a service route as a real service would have, and decodes the JSON answer.
func get(t *testing.T, h *health.Health, path string) (int, health.Response) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	h.Register(mux)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodGet, path, nil))
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	var resp health.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil {
		t.Fatalf("body %q is not a health response: %v", rec.Body, err)
	}
	return rec.Code, resp
}

func TestLiveness(t *testing.T) {
	t.Parallel()
	h := health.New()
	// Liveness must not depend on readiness: a broker outage is no reason
	// to restart the process.
	h.AddReadiness("kafka", func(context.Context) error { return errors.New("broker down") })

	code, resp := get(t, h, "/healthz")
	if code != http.StatusOK || !reflect.DeepEqual(resp, health.Response{Status: "ok"}) {
		t.Errorf("GET /healthz = %d %+v, want 200 {Status:ok}", code, resp)
	}
}

func TestReadiness(t *testing.T) {
	t.Parallel()
	// blocked never returns by itself, like a check stuck on a dead socket
	// that ignores its context; closing it at cleanup lets its goroutine end.
	blocked := make(chan struct{})
	t.Cleanup(func() { close(blocked) })

	tests := []struct {
		name       string
		checks     map[string]health.Check
		wantCode   int
		wantStatus string
		wantChecks map[string]string // exact results; "~text" means "contains text"
	}{
		{
			name:       "no checks",
			wantCode:   http.StatusOK,
			wantStatus: "ready",
		},
		{
			name:       "passing check",
			checks:     map[string]health.Check{"kafka": ok},
			wantCode:   http.StatusOK,
			wantStatus: "ready",
			wantChecks: map[string]string{"kafka": "ok"},
		},
		{
			name: "failing check is named",
			checks: map[string]health.Check{
				"kafka": ok,
				"store": func(context.Context) error { return errors.New("dial tcp: connection refused") },
			},
			wantCode:   http.StatusServiceUnavailable,
			wantStatus: "unavailable",
			wantChecks: map[string]string{"kafka": "ok", "store": "dial tcp: connection refused"},
		},
		{
			name: "check that honours its context times out",
			checks: map[string]health.Check{"kafka": func(ctx context.Context) error {
				<-ctx.Done()
				return ctx.Err()
			}},
			wantCode:   http.StatusServiceUnavailable,
			wantStatus: "unavailable",
			wantChecks: map[string]string{"kafka": "~deadline exceeded"},
		},
		{
			name: "check that ignores its context still times out",
			checks: map[string]health.Check{"kafka": func(context.Context) error {
				<-blocked
				return nil
			}},
			wantCode:   http.StatusServiceUnavailable,
			wantStatus: "unavailable",
			wantChecks: map[string]string{"kafka": "~timed out after 50ms"},
		},
		{
			name:       "panicking check fails instead of crashing",
			checks:     map[string]health.Check{"kafka": func(context.Context) error { panic("nil client") }},
			wantCode:   http.StatusServiceUnavailable,
			wantStatus: "unavailable",
			wantChecks: map[string]string{"kafka": "check panicked: nil client"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := health.New(health.WithTimeout(50 * time.Millisecond))
			for name, check := range tt.checks {
				h.AddReadiness(name, check)
			}

			code, resp := get(t, h, "/readyz")
			if code != tt.wantCode || resp.Status != tt.wantStatus {
				t.Errorf("GET /readyz = %d %q, want %d %q", code, resp.Status, tt.wantCode, tt.wantStatus)
			}
			if len(resp.Checks) != len(tt.wantChecks) {
				t.Errorf("checks = %v, want %v", resp.Checks, tt.wantChecks)
			}
			for name, want := range tt.wantChecks {
				got, found := resp.Checks[name]
				if text, partial := strings.CutPrefix(want, "~"); partial {
					if !strings.Contains(got, text) {
						t.Errorf("check %s = %q, want it to contain %q", name, got, text)
					}
				} else if !found || got != want {
					t.Errorf("check %s = %q, want %q", name, got, want)
				}
			}
		})
	}
}

func TestReadinessRunsChecksConcurrently(t *testing.T) {
	t.Parallel()
	// Each check waits for the other to start. Run one after the other, the
	// first would wait out its whole timeout and fail.
	aStarted, bStarted := make(chan struct{}), make(chan struct{})
	waitFor := func(mine, other chan struct{}) health.Check {
		return func(ctx context.Context) error {
			close(mine)
			select {
			case <-other:
				return nil
			case <-ctx.Done():
				return errors.New("the other check never started")
			}
		}
	}
	h := health.New()
	h.AddReadiness("a", waitFor(aStarted, bStarted))
	h.AddReadiness("b", waitFor(bStarted, aStarted))

	if code, resp := get(t, h, "/readyz"); code != http.StatusOK {
		t.Errorf("GET /readyz = %d %+v, want 200", code, resp)
	}
}

func TestAddReadinessReplacesByName(t *testing.T) {
	t.Parallel()
	h := health.New()
	h.AddReadiness("kafka", func(context.Context) error { return errors.New("not yet") })
	h.AddReadiness("kafka", ok)

	code, resp := get(t, h, "/readyz")
	if code != http.StatusOK || !reflect.DeepEqual(resp.Checks, map[string]string{"kafka": "ok"}) {
		t.Errorf("GET /readyz = %d %+v, want 200 with only the replacement check", code, resp)
	}
}

func TestRegisterServesOnlyGET(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	health.New().Register(mux)

	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/healthz", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST /healthz = %d, want 405", rec.Code)
	}
}
