// Package metricstest reads Prometheus metrics in tests, from a registry or
// from a service's /metrics endpoint, and finds series by their labels.
package metricstest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is one series: its labels and its value. The value of a histogram
// is its number of observations.
type Sample struct {
	Labels map[string]string
	Value  float64
}

// Metrics are the series of a gathering or a scrape, by metric name.
type Metrics map[string][]Sample

// Gather collects what g holds now.
func Gather(tb testing.TB, g prometheus.Gatherer) Metrics {
	tb.Helper()
	families, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather metrics: %v", err)
	}
	return fromFamilies(families)
}

// Scrape reads the metrics a GET of url answers in Prometheus' text
// format. It fails the test on anything but a 200 with parsable metrics.
func Scrape(tb testing.TB, url string) Metrics {
	tb.Helper()
	m, err := TryScrape(tb.Context(), url)
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// TryScrape is Scrape returning its error, for a test that polls a service
// until its metrics say what it waits for.
func TryScrape(ctx context.Context, url string) (Metrics, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("scrape %s: %w", url, err)
	}
	list := make([]*dto.MetricFamily, 0, len(families))
	for _, f := range families {
		list = append(list, f)
	}
	return fromFamilies(list), nil
}

func fromFamilies(families []*dto.MetricFamily) Metrics {
	m := Metrics{}
	for _, f := range families {
		for _, metric := range f.GetMetric() {
			s := Sample{Labels: map[string]string{}}
			for _, l := range metric.GetLabel() {
				s.Labels[l.GetName()] = l.GetValue()
			}
			switch {
			case metric.Counter != nil:
				s.Value = metric.GetCounter().GetValue()
			case metric.Gauge != nil:
				s.Value = metric.GetGauge().GetValue()
			case metric.Histogram != nil:
				s.Value = float64(metric.GetHistogram().GetSampleCount())
			case metric.Summary != nil:
				s.Value = float64(metric.GetSummary().GetSampleCount())
			default:
				s.Value = metric.GetUntyped().GetValue()
			}
			m[f.GetName()] = append(m[f.GetName()], s)
		}
	}
	return m
}

// Series returns the series of name whose labels hold every label and
// value of match, given in pairs: Series("x", "topic", "t1").
func (m Metrics) Series(name string, match ...string) []Sample {
	if len(match)%2 != 0 {
		panic("metricstest: labels to match come in name, value pairs")
	}
	var out []Sample
	for _, s := range m[name] {
		ok := true
		for i := 0; i < len(match); i += 2 {
			if v, has := s.Labels[match[i]]; !has || v != match[i+1] {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return out
}

// Sum adds up the values of the series Series returns.
func (m Metrics) Sum(name string, match ...string) float64 {
	total := 0.0
	for _, s := range m.Series(name, match...) {
		total += s.Value
	}
	return total
}

// String lists the series of every metric whose name starts with
// "eventshop_", for a failure message.
func (m Metrics) String() string {
	var lines []string
	for name, samples := range m {
		if !strings.HasPrefix(name, "eventshop_") {
			continue
		}
		for _, s := range samples {
			lines = append(lines, fmt.Sprintf("%s%v %g", name, s.Labels, s.Value))
		}
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n")
}
