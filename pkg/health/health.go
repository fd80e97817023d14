// Package health serves the liveness and readiness endpoints of a service and
// probes them from the outside.
//
// Liveness (GET /healthz) answers 200 whenever the process can serve HTTP at
// all; an orchestrator restarts the process when it stops answering. Readiness
// (GET /readyz) runs the checks the service registered, such as "can I reach
// Kafka", and answers 503 while any fails; an orchestrator then stops sending
// traffic but does not restart, because a dependency outage is not cured by
// restarting its clients. Keeping the two apart is what stops a broker outage
// from turning into a restart storm.
package health

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Paths of the endpoints Register mounts.
const (
	LivenessPath  = "/healthz"
	ReadinessPath = "/readyz"
)

// DefaultTimeout bounds each readiness check unless WithTimeout says otherwise.
// Probes are frequent and have their own deadline (often a few seconds), so a
// check must answer well within it.
const DefaultTimeout = 2 * time.Second

// Check reports whether one dependency is usable. It should honour ctx, which
// carries the check's timeout.
type Check func(ctx context.Context) error

// Health holds the readiness checks of one service. It is safe for concurrent
// use, so checks may be added while the endpoints are already being served.
type Health struct {
	timeout time.Duration

	mu     sync.RWMutex
	checks map[string]Check
}

// Option configures a Health.
type Option func(*Health)

// WithTimeout sets how long each readiness check may take.
func WithTimeout(d time.Duration) Option {
	return func(h *Health) { h.timeout = d }
}

// New returns a Health with no readiness checks: until checks are added, a
// live process is also ready.
func New(opts ...Option) *Health {
	h := &Health{timeout: DefaultTimeout, checks: make(map[string]Check)}
	for _, opt := range opts {
		opt(h)
	}
	return h
}

// AddReadiness registers check under name (e.g. "kafka"), replacing any check
// already registered under that name.
func (h *Health) AddReadiness(name string, check Check) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

// Register mounts the liveness and readiness handlers on mux, next to the
// service's own routes.
func (h *Health) Register(mux *http.ServeMux) {
	mux.Handle("GET "+LivenessPath, h.LivenessHandler())
	mux.Handle("GET "+ReadinessPath, h.ReadinessHandler())
}

// Response is the JSON body of both endpoints.
type Response struct {
	Status string            `json:"status"`           // "ok", "ready" or "unavailable"
	Checks map[string]string `json:"checks,omitempty"` // check name -> "ok" or its error
}

// LivenessHandler answers 200 {"status":"ok"}. It checks nothing on purpose:
// whatever it checked, a failure would get a healthy process restarted.
func (h *Health) LivenessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, Response{Status: "ok"})
	})
}

// ReadinessHandler runs every readiness check concurrently, each under the
// timeout, and answers 200 {"status":"ready",...} if all pass or 503
// {"status":"unavailable",...} with each failing check's error.
func (h *Health) ReadinessHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		results := h.run(r.Context())
		resp := Response{Status: "ready", Checks: results}
		code := http.StatusOK
		for _, result := range results {
			if result != "ok" {
				resp.Status = "unavailable"
				code = http.StatusServiceUnavailable
				break
			}
		}
		writeJSON(w, code, resp)
	})
}

// run runs all checks at once so the probe takes as long as the slowest check,
// not the sum of them.
func (h *Health) run(ctx context.Context) map[string]string {
	h.mu.RLock()
	checks := maps.Clone(h.checks)
	h.mu.RUnlock()

	results := make(map[string]string, len(checks))
	var (
		mu sync.Mutex
		wg sync.WaitGroup
	)
	for _, name := range slices.Sorted(maps.Keys(checks)) {
		wg.Go(func() {
			result := "ok"
			if err := h.runOne(ctx, checks[name]); err != nil {
				result = err.Error()
			}
			mu.Lock()
			results[name] = result
			mu.Unlock()
		})
	}
	wg.Wait()
	return results
}

// runOne enforces the timeout even on a check that ignores its context: a hung
// dependency must not hang the probe. Such a check's goroutine finishes on its
// own later; the buffered channel lets it exit without a reader.
func (h *Health) runOne(ctx context.Context, check Check) error {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()

	done := make(chan error, 1)
	go func() {
		defer func() {
			// A broken check must fail the probe, not crash the service.
			if p := recover(); p != nil {
				done <- fmt.Errorf("check panicked: %v", p)
			}
		}()
		done <- check(ctx)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("timed out after %s: %w", h.timeout, ctx.Err())
	}
}

func writeJSON(w http.ResponseWriter, code int, body Response) {
	w.Header().Set("Content-Type", "application/json")
	// A cached answer about health is a wrong answer.
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(body)
}
