package service_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/metricstest"
	"github.com/eventshop/eventshop/pkg/service"
)

// TestAppServesMetrics runs an app with a route, a consumer and a metric of
// its own: GET /metrics shows the requests by route pattern and code, what
// the consumer and the producer did, the app's own metric and the Go
// runtime's and the process's.
func TestAppServesMetrics(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Config(t)
	base := service.DefaultBase("127.0.0.1:0")
	base.KafkaBrokers = kc.Brokers
	base.DeadLetterTopic = kafkatest.Name(t, "dlt")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := service.New(ctx, "test-service", base, kafkatest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	app.Handle("GET /hello/{name}", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") == "nobody" {
			http.Error(w, "who?", http.StatusNotFound)
			return
		}
		_, _ = w.Write([]byte("hello"))
	}))
	// A pattern without a method counts under the request's.
	app.Handle("/echo", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	greetings := prometheus.NewCounter(prometheus.CounterOpts{Name: "eventshop_test_greetings_total", Help: "h"})
	if err := app.Metrics().Register(greetings); err != nil {
		t.Fatal(err)
	}
	greetings.Add(3)
	// On a shared cluster the topic holds other tests' records too: the
	// handler counts this test's own.
	product := kafkatest.Name(t, "P")
	var got atomic.Int32
	group := kafkatest.Name(t, "group")
	if err := app.Consume(group, []string{contracts.TopicInventoryEmpty}, func(_ context.Context, m *kafka.Message) error {
		if strings.Contains(string(m.Value), product) {
			got.Add(1)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	if err := app.Events.Publish(ctx, contracts.InventoryEmpty{ProductID: product}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	kafkatest.Eventually(t, 60*time.Second, func() bool { return got.Load() == 1 }, "consumer got nothing")
	url := "http://" + app.HTTPAddr()
	for _, req := range []struct{ method, path string }{
		{"GET", "/hello/ann"}, {"GET", "/hello/bob"}, {"GET", "/hello/nobody"}, {"GET", "/nowhere"},
		{"POST", "/echo"}, {"BREW", "/echo"},
	} {
		r, err := http.NewRequestWithContext(t.Context(), req.method, url+req.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	// A method no route takes: the mux's 405, with a JSON body.
	post, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/hello/ann", nil)
	if err != nil {
		t.Fatal(err)
	}
	post.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" ||
		string(body) != `{"error":"method POST not allowed: use GET, HEAD"}`+"\n" {
		t.Errorf("POST /hello/ann = %d, Allow %q, body %q; want 405, GET, HEAD and a JSON error",
			resp.StatusCode, resp.Header.Get("Allow"), body)
	}

	metricstest.Scrape(t, url+"/metrics") // GET /metrics counts from the next scrape on
	m := metricstest.Scrape(t, url+"/metrics")
	tests := []struct {
		name    string
		match   []string
		want    float64
		atLeast bool // want is a lower bound
	}{
		{"eventshop_http_requests_total", []string{"route", "GET /hello/{name}", "code", "200"}, 2, false},
		{"eventshop_http_requests_total", []string{"route", "GET /hello/{name}", "code", "404"}, 1, false},
		{"eventshop_http_requests_total", []string{"route", "unmatched", "code", "404"}, 1, false},
		{"eventshop_http_requests_total", []string{"route", "unmatched", "code", "405"}, 1, false},
		{"eventshop_http_requests_total", []string{"route", "GET /metrics", "code", "200"}, 1, false},
		{"eventshop_http_requests_total", []string{"route", "POST /echo", "code", "200"}, 1, false},
		{"eventshop_http_requests_total", []string{"route", "OTHER /echo", "code", "200"}, 1, false},
		{"eventshop_http_request_duration_seconds", []string{"route", "GET /hello/{name}"}, 3, false},
		// Exact on a broker of the test's own; on a shared one the group
		// reads other tests' records of the topic too.
		{"eventshop_consumer_records_total", []string{"group", group, "topic", contracts.TopicInventoryEmpty, "outcome", kafka.OutcomeOK}, 1, kafkatest.External()},
		{"eventshop_producer_records_total", []string{"topic", contracts.TopicInventoryEmpty}, 1, false},
		{"eventshop_test_greetings_total", nil, 3, false},
		{"go_goroutines", nil, 1, true},
		{"process_cpu_seconds_total", nil, 0, true},
	}
	for _, tt := range tests {
		got := m.Series(tt.name, tt.match...)
		switch {
		case len(got) == 0:
			t.Errorf("no series %s%v", tt.name, tt.match)
		case !tt.atLeast && m.Sum(tt.name, tt.match...) != tt.want:
			t.Errorf("%s%v = %g, want %g", tt.name, tt.match, m.Sum(tt.name, tt.match...), tt.want)
		case tt.atLeast && m.Sum(tt.name, tt.match...) < tt.want:
			t.Errorf("%s%v = %g, want at least %g", tt.name, tt.match, m.Sum(tt.name, tt.match...), tt.want)
		}
	}
	for _, s := range m["eventshop_http_requests_total"] {
		if r := s.Labels["route"]; r == "/hello/ann" || r == "/nowhere" || strings.Contains(r, "BREW") {
			t.Errorf("a series is labelled with the raw path %q", r)
		}
	}
}
