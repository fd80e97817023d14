package metricstest_test

import (
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/eventshop/eventshop/pkg/metricstest"
)

// TestScrapeAndGatherSeeTheSameSeries serves a registry over HTTP: a scrape
// and a gathering find each series by its labels, with its value, and a
// histogram's value is its count.
func TestScrapeAndGatherSeeTheSameSeries(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	records := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "eventshop_test_records_total", Help: "h"},
		[]string{"topic", "outcome"})
	took := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "eventshop_test_seconds", Help: "h"})
	reg.MustRegister(records, took)
	records.WithLabelValues("a", "ok").Add(3)
	records.WithLabelValues("a", "retried").Add(1)
	records.WithLabelValues("b", "ok").Add(5)
	took.Observe(0.1)
	took.Observe(0.2)
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	defer srv.Close()

	for name, m := range map[string]metricstest.Metrics{
		"scrape": metricstest.Scrape(t, srv.URL),
		"gather": metricstest.Gather(t, reg),
	} {
		tests := []struct {
			match []string
			want  float64
		}{
			{nil, 9},
			{[]string{"topic", "a"}, 4},
			{[]string{"topic", "a", "outcome", "ok"}, 3},
			{[]string{"outcome", "ok"}, 8},
			{[]string{"topic", "c"}, 0},
		}
		for _, tt := range tests {
			if got := m.Sum("eventshop_test_records_total", tt.match...); got != tt.want {
				t.Errorf("%s: Sum(records %v) = %g, want %g", name, tt.match, got, tt.want)
			}
		}
		if got := len(m.Series("eventshop_test_records_total", "outcome", "ok")); got != 2 {
			t.Errorf("%s: %d ok series, want 2", name, got)
		}
		if got := m.Sum("eventshop_test_seconds"); got != 2 {
			t.Errorf("%s: histogram value %g, want its 2 observations", name, got)
		}
	}
}
