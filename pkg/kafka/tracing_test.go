package kafka_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// tracedConfig returns a test cluster's config whose clients trace into
// the returned recorder.
func tracedConfig(t *testing.T) (kafka.Config, *tracetest.SpanRecorder, trace.Tracer) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	cfg := kafkatest.Config(t)
	cfg.TracerProvider = tp
	return cfg, rec, tp.Tracer("test")
}

// endedSpan returns the ended span named name with span id id, or any
// ended span named name for an invalid id.
func endedSpan(rec *tracetest.SpanRecorder, name string, id trace.SpanID) sdktrace.ReadOnlySpan {
	for _, s := range rec.Ended() {
		if s.Name() == name && (!id.IsValid() || s.SpanContext().SpanID() == id) {
			return s
		}
	}
	return nil
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, kv := range s.Attributes() {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// TestTraceCrossesTheBroker publishes two records in one batch, one as
// part of the trace in the publisher's context and one carrying a trace of
// its own in its headers, and consumes them: each record's send span is a
// child of its trace, and the handler runs in a process span that is a
// child of the send span, through the record's headers on a real broker.
func TestTraceCrossesTheBroker(t *testing.T) {
	t.Parallel()
	cfg, rec, tracer := tracedConfig(t)
	topic := kafkatest.Topic(t, cfg, "traced", 1)

	ctx, placing := tracer.Start(context.Background(), "place order")
	ownCtx, own := tracer.Start(context.Background(), "own trace")
	err := newProducer(t, cfg).Publish(ctx,
		kafka.Record{Topic: topic, Key: []byte("k"), Value: []byte("0")},
		kafka.Record{Topic: topic, Value: []byte("1"), Headers: kafka.TraceHeaders(ownCtx)})
	if err != nil {
		t.Fatal(err)
	}
	placing.End()
	own.End()

	handled := make(chan trace.SpanContext, 2)
	startConsumer(t, cfg, kafkatest.GroupConfig(t, topic), func(ctx context.Context, _ *kafka.Message) error {
		handled <- trace.SpanContextFromContext(ctx)
		return nil
	})
	for i, parent := range []trace.SpanContext{placing.SpanContext(), own.SpanContext()} {
		in := <-handled
		process := endedSpanEventually(t, rec, "process "+topic, in.SpanID())
		send := endedSpan(rec, "send "+topic, process.Parent().SpanID())
		if send == nil {
			t.Fatalf("record %d: the process span's parent %s is no send span", i, process.Parent().SpanID())
		}
		if send.Parent().SpanID() != parent.SpanID() || in.TraceID() != parent.TraceID() {
			t.Errorf("record %d: sent in span %s of trace %s and handled in trace %s, want all under span %s of trace %s",
				i, send.Parent().SpanID(), send.SpanContext().TraceID(), in.TraceID(), parent.SpanID(), parent.TraceID())
		}
		if send.SpanKind() != trace.SpanKindProducer || process.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("record %d: kinds %s and %s, want producer and consumer", i, send.SpanKind(), process.SpanKind())
		}
		for _, s := range []sdktrace.ReadOnlySpan{send, process} {
			if attr(s, "messaging.system") != "kafka" || attr(s, "messaging.destination.name") != topic ||
				attr(s, "messaging.destination.partition.id") != "0" || attr(s, "messaging.kafka.offset") != strconv.Itoa(i) {
				t.Errorf("%s has attributes %v", s.Name(), s.Attributes())
			}
		}
	}
}

// endedSpanEventually waits for the span named name with id id to end: a
// handler's span ends after the handler returned.
func endedSpanEventually(t *testing.T, rec *tracetest.SpanRecorder, name string, id trace.SpanID) sdktrace.ReadOnlySpan {
	t.Helper()
	var s sdktrace.ReadOnlySpan
	kafkatest.Eventually(t, waitLong, func() bool { s = endedSpan(rec, name, id); return s != nil }, "no span %s %s ended", name, id)
	return s
}

// TestBatchSpanLinksEachRecord consumes records of many traces in batches:
// a batch's span starts a trace of its own and links to the context of each
// of its records, and StartProcess continues each record's trace within it.
func TestBatchSpanLinksEachRecord(t *testing.T) {
	t.Parallel()
	cfg, rec, tracer := tracedConfig(t)
	topic := kafkatest.Topic(t, cfg, "traced-batches", 1)
	const n = 100
	var recs []kafka.Record
	for range n {
		ctx, span := tracer.Start(context.Background(), "order")
		recs = append(recs, kafka.Record{Topic: topic, Value: []byte("x"), Headers: kafka.TraceHeaders(ctx)})
		span.End()
	}
	if err := newProducer(t, cfg).Publish(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}

	type batch struct {
		span    trace.SpanContext
		records []trace.SpanContext // each record's context, from its headers
		parts   []trace.SpanContext // each record's span started with StartProcess
	}
	var mu sync.Mutex
	var batches []batch
	handled := 0
	gc := kafkatest.GroupConfig(t, topic)
	startBatchConsumer(t, cfg, gc, func(context.Context, kafka.Claim) (kafka.BatchHandler, error) {
		return func(ctx context.Context, msgs []*kafka.Message) error {
			b := batch{span: trace.SpanContextFromContext(ctx)}
			for _, m := range msgs {
				b.records = append(b.records, recordContext(m))
				pctx, end := kafka.StartProcess(ctx, m, m.Headers)
				b.parts = append(b.parts, trace.SpanContextFromContext(pctx))
				end(nil)
			}
			mu.Lock()
			defer mu.Unlock()
			batches = append(batches, b)
			handled += len(msgs)
			return nil
		}, nil
	})
	kafkatest.Eventually(t, waitLong, func() bool { mu.Lock(); defer mu.Unlock(); return handled == n }, "records not all handled")

	mu.Lock()
	defer mu.Unlock()
	largest := 0
	for _, b := range batches {
		largest = max(largest, len(b.records))
		span := endedSpanEventually(t, rec, "process "+topic, b.span.SpanID())
		if len(b.records) > 1 {
			var linked []trace.SpanContext
			for _, l := range span.Links() {
				linked = append(linked, l.SpanContext.WithRemote(true))
			}
			if span.Parent().IsValid() || !slices.EqualFunc(linked, b.records, trace.SpanContext.Equal) {
				t.Errorf("batch of %d: parent %v, links %v; want no parent and a link to each record's context %v",
					len(b.records), span.Parent(), linked, b.records)
			}
			if got := attr(span, "messaging.batch.message_count"); got != strconv.Itoa(len(b.records)) {
				t.Errorf("batch of %d: messaging.batch.message_count %s", len(b.records), got)
			}
		} else if !span.Parent().Equal(b.records[0]) {
			t.Errorf("batch of one: parent %v, want the record's context %v", span.Parent(), b.records[0])
		}
		for i, part := range b.parts {
			s := endedSpan(rec, "process "+topic, part.SpanID())
			if s == nil || !s.Parent().Equal(b.records[i]) || len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != b.span.SpanID() {
				t.Fatalf("the span StartProcess started for record %d is no child of the record's context linked to its batch: %v", i, s)
			}
		}
	}
	if largest < 2 {
		t.Errorf("the largest batch held %d records: no batch span was tried", largest)
	}
}

// recordContext is the span context in m's headers, as a consumer reads it.
func recordContext(m *kafka.Message) trace.SpanContext {
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(m.Headers)))
}

// TestMiddlewareLogsTheTrace: the lines Retry and DeadLetter log while a
// traced record is handled name the trace and the span it is handled in.
func TestMiddlewareLogsTheTrace(t *testing.T) {
	t.Parallel()
	_, _, tracer := tracedConfig(t)
	ctx, span := tracer.Start(context.Background(), "process")
	defer span.End()
	core, logs := observer.New(zapcore.InfoLevel)
	calls := 0
	h := kafka.Chain(failing(2, errTransient, &calls),
		kafka.DeadLetter(&eventbustest.Records{}, "dlt", "group", zap.New(core)),
		kafka.Retry(fastRetry(2), zap.New(core)))
	if err := h(ctx, &kafka.Message{Topic: "t"}); err != nil {
		t.Fatal(err)
	}
	traceID, spanID := span.SpanContext().TraceID().String(), span.SpanContext().SpanID().String()
	for _, msg := range []string{"handler failed, will retry", "message dead-lettered"} {
		entries := logs.FilterMessage(msg).All()
		if len(entries) != 1 {
			t.Fatalf("%d lines %q, want 1", len(entries), msg)
		}
		if got := entries[0].ContextMap(); got["trace_id"] != traceID || got["span_id"] != spanID {
			t.Errorf("%q logged %v, want trace_id %s and span_id %s", msg, got, traceID, spanID)
		}
	}
}
