package service_test

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	collector "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/service"
)

// otlpSpan is a span as an OTLP receiver got it.
type otlpSpan struct {
	service, name, trace string
}

// otlpReceiver is an OTLP/HTTP trace receiver, as Jaeger's on port 4318.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []otlpSpan
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	var export collector.ExportTraceServiceRequest
	if req.URL.Path != "/v1/traces" || proto.Unmarshal(body, &export) != nil {
		http.Error(w, "not an OTLP export", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rs := range export.ResourceSpans {
		var name string
		for _, kv := range rs.Resource.Attributes {
			if kv.Key == "service.name" {
				name = kv.Value.GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				r.spans = append(r.spans, otlpSpan{service: name, name: s.Name, trace: hex.EncodeToString(s.TraceId)})
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(nil)
}

// TestSpansReachTheOTLPEndpoint runs a service with OTEL_EXPORTER_OTLP_ENDPOINT
// set: a request that publishes an event, and the event's consumption, make
// one trace, named after the service, which the receiver has once the
// service stopped (spans are exported in batches every minute here, so
// these came with the flush at the stop).
func TestSpansReachTheOTLPEndpoint(t *testing.T) {
	product := kafkatest.Name(t, "P") // the test's own, on a topic other tests write too
	receiver := &otlpReceiver{}
	srv := httptest.NewServer(receiver)
	defer srv.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")

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
	app.Handle("POST /empty", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := app.Events.Publish(r.Context(), contracts.InventoryEmpty{ProductID: product}); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		}
	}))
	// On a shared cluster the topic holds other tests' records too: count
	// this test's own.
	var got atomic.Int32
	err = app.Consume(kafkatest.Name(t, "group"), []string{contracts.TopicInventoryEmpty}, func(_ context.Context, m *kafka.Message) error {
		if strings.Contains(string(m.Value), product) {
			got.Add(1)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+app.HTTPAddr()+"/empty", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /empty = %d", resp.StatusCode)
	}
	kafkatest.Eventually(t, time.Minute, func() bool { return got.Load() >= 1 }, "consumer got nothing")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}

	receiver.mu.Lock()
	defer receiver.mu.Unlock()
	// The request's trace; other traces can only be the consumer's of
	// other tests' records, on a shared cluster.
	var trace string
	for _, s := range receiver.spans {
		if s.service != "test-service" {
			t.Errorf("span %s names service %q, want test-service", s.name, s.service)
		}
		if s.name == "POST /empty" {
			trace = s.trace
		}
	}
	var names []string
	for _, s := range receiver.spans {
		switch {
		case s.trace == trace:
			names = append(names, s.name)
		case s.name != "process "+contracts.TopicInventoryEmpty:
			t.Errorf("span %s outside the request's trace", s.name)
		}
	}
	slices.Sort(names)
	want := []string{"POST /empty", "process " + contracts.TopicInventoryEmpty, "send " + contracts.TopicInventoryEmpty}
	if trace == "" || !slices.Equal(names, want) {
		t.Errorf("the request's trace holds spans %q, want %q", names, want)
	}
}
