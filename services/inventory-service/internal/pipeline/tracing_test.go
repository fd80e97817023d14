package pipeline_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// TestEachOrderKeepsItsTraceThroughTheReservations splits two orders of
// two traces in one batch, into one reservations record for their one
// product, and applies it: the events of each order's line carry that
// order's trace, through a span applying the line, child of a span
// splitting the order, child of the order's own.
func TestEachOrderKeepsItsTraceThroughTheReservations(t *testing.T) {
	t.Parallel()
	f := newRestoreFixture(t, 1)
	rec := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)).Tracer("test")

	placed := map[string]trace.SpanContext{} // by correlation id
	var orders []*kafka.Message
	for i, corr := range []string{"corr-a", "corr-b"} {
		ctx, span := tracer.Start(context.Background(), "place "+corr)
		span.End()
		placed[corr] = span.SpanContext()
		order := contracts.SampleOrder()
		order.OrderID += corr
		order.Products = order.Products[:1]
		order.Products[0].ProductID = productID(0)
		body, err := contracts.Encode(order)
		if err != nil {
			t.Fatal(err)
		}
		headers := kafka.TraceHeaders(ctx)
		headers[contracts.HeaderCorrelationID] = corr
		orders = append(orders, &kafka.Message{Topic: f.topics.Orders, Offset: int64(10 + i), Value: body,
			Headers: headers, Timestamp: time.Now()})
	}
	// batch runs handler on msgs of claim as a Consumer that traces does.
	batch := func(claim kafka.Claim, msgs []*kafka.Message) {
		ctx, span := tracer.Start(context.Background(), "batch")
		defer span.End()
		handle, err := f.pipe.Open(ctx, claim)
		if err != nil {
			t.Fatal(err)
		}
		if err := handle(ctx, msgs); err != nil {
			t.Fatal(err)
		}
	}
	batch(kafka.Claim{Topic: f.topics.Orders, Partition: 0, Out: f.pub}, orders)
	var reservations []*kafka.Message
	for _, r := range f.pub.Published() {
		if r.Topic == f.topics.Reservations {
			reservations = append(reservations, &kafka.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Headers: r.Headers})
		}
	}
	if len(reservations) != 1 {
		t.Fatalf("%d reservations records, want one for the product of both orders", len(reservations))
	}
	batch(f.claim, reservations)

	spans := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, s := range rec.Ended() {
		spans[s.SpanContext().SpanID()] = s
	}
	events := 0
	for _, r := range f.pub.Published() {
		if r.Topic != contracts.TopicNewLoggingAction {
			continue
		}
		events++
		want := placed[r.Headers[contracts.HeaderCorrelationID]]
		applied := spans[trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
			propagation.MapCarrier(r.Headers))).SpanID()]
		var split sdktrace.ReadOnlySpan
		if applied != nil {
			split = spans[applied.Parent().SpanID()]
		}
		if applied == nil || applied.Name() != "process "+f.topics.Reservations || split == nil ||
			split.Name() != "process "+f.topics.Orders || split.Parent().SpanID() != want.SpanID() {
			t.Errorf("the event of %s was not made in a span applying its line, child of one splitting its order, child of the order's",
				r.Headers[contracts.HeaderCorrelationID])
		}
	}
	if events != 2 {
		t.Errorf("%d logging actions, want one per order", events)
	}
}
