package service

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/kafka"
)

// routeUnmatched is the route of a request no pattern of the mux matched:
// a 404 or a 405.
const routeUnmatched = "unmatched"

// routeOf returns the route of a request the mux answered: the pattern
// that matched, with the request's method in front if the pattern names
// none, so that a handler registered for "/orders" that takes POSTs counts
// them under "POST /orders". A method beyond the standard ones is OTHER:
// a client can send any, and each would be a series.
func routeOf(r *http.Request) string {
	switch {
	case r.Pattern == "":
		return routeUnmatched
	case !strings.HasPrefix(r.Pattern, "/"):
		return r.Pattern // has a method, or a host, of its own
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodConnect, http.MethodOptions, http.MethodTrace:
		return r.Method + " " + r.Pattern
	}
	return "OTHER " + r.Pattern
}

// metrics are the service's Prometheus registry and its HTTP metrics.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec   // route, code
	duration *prometheus.HistogramVec // route
}

// serveMetrics makes the service's registry, with the Go runtime's, the
// process's, HTTP's and Kafka's metrics, and serves it at GET /metrics.
// It comes before the Kafka clients, which count into it.
func (a *App) serveMetrics() error {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventshop_http_requests_total",
			Help: "HTTP requests answered, by route (the pattern that matched, with its method) and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventshop_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.requests, m.duration,
	} {
		errs = append(errs, m.registry.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	km, err := kafka.NewMetrics(m.registry)
	if err != nil {
		return err
	}
	a.kafka.Metrics = km
	a.metrics = m
	a.mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog: zap.NewStdLog(a.Log),
		Registry: m.registry,
	}))
	return nil
}

// Metrics returns the registry of the service's own metrics, which GET
// /metrics serves beside those of Kafka, HTTP, the Go runtime and the
// process.
func (a *App) Metrics() prometheus.Registerer { return a.metrics.registry }

// instrument counts and times every request next answers, by the pattern
// of the route that matched, never by the raw path: a path can be anything
// a client sends, and each distinct one would be a series.
func (m *metrics) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		// The mux sets the pattern on the request it routed.
		route := routeOf(r)
		code := sw.code
		if code == 0 {
			code = http.StatusOK
		}
		m.requests.WithLabelValues(route, strconv.Itoa(code)).Inc()
		m.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
