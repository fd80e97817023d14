package main

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/services/notification-service/internal/notify"
)

// TestCongratulationNamesItsTrace: with tracing on, the congratulation for
// an order that comes with a trace context is logged with that trace's id
// and the id of the span the service handled the order in.
func TestCongratulationNamesItsTrace(t *testing.T) {
	otlp := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer otlp.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", otlp.URL)
	core, logs := observer.New(zapcore.InfoLevel)
	defaults := defaultConfig()
	svc := notify.NewService(notify.NewLogNotifier(zap.New(core)), defaults.DedupeBounds(), kafkatest.Logger(t))
	cfg, _, _, _ := startApp(t, kafka.Config{}, svc)

	placed := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}, SpanID: trace.SpanID{1, 2, 3, 4, 5, 6, 7, 8},
		TraceFlags: trace.FlagsSampled,
	})
	ctx := trace.ContextWithSpanContext(t.Context(), placed)
	order := contracts.SampleOrder()
	order.OrderID = kafkatest.Name(t, "ORDER")
	pub := kafkatest.NewPublisher(t, cfg)
	pub.PublishInOrder(ctx, pub.Records(ctx, order)...)

	congrats := func() []observer.LoggedEntry {
		return logs.FilterField(zap.String("order_id", order.OrderID)).All()
	}
	kafkatest.Eventually(t, waitLong, func() bool { return len(congrats()) > 0 }, "no congratulation for %s", order.OrderID)
	fields := congrats()[0].ContextMap()
	spanID, _ := fields["span_id"].(string)
	if fields["trace_id"] != placed.TraceID().String() || len(spanID) != 16 || spanID == placed.SpanID().String() {
		t.Errorf("the congratulation logged %v, want trace_id %s and the span_id of the service's own span",
			fields, placed.TraceID())
	}
}
