package kafka

import (
	"context"
	"errors"
	"slices"
	"strconv"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// instrumentation names this package as the tracer of its spans.
const instrumentation = "github.com/eventshop/eventshop/pkg/kafka"

// propagator writes and reads the W3C trace context: the traceparent and
// tracestate headers, as every OpenTelemetry Kafka instrumentation does.
var propagator = propagation.TraceContext{}

// headerCarrier is a propagation.TextMapCarrier over a record's headers.
type headerCarrier map[string]string

func (c headerCarrier) Get(key string) string { return c[key] }
func (c headerCarrier) Set(key, value string) { c[key] = value }
func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}

func isTraceHeader(key string) bool { return slices.Contains(propagator.Fields(), key) }

// TraceHeaders returns the W3C trace context of the span in ctx as record
// headers (traceparent, and tracestate if it has one), or nil if ctx holds
// no span. A record that carries them is sent as part of that trace (see
// Producer.Publish), and so is a part of a record that carries them in its
// body, such as a line of a record that gathers many (see StartProcess).
func TraceHeaders(ctx context.Context) map[string]string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return nil
	}
	h := make(headerCarrier, 2)
	propagator.Inject(ctx, h)
	return h
}

// remote returns the span context in headers, invalid if they hold none.
func remote(headers map[string]string) trace.SpanContext {
	if headers[propagator.Fields()[0]] == "" {
		return trace.SpanContext{}
	}
	return trace.SpanContextFromContext(propagator.Extract(context.Background(), headerCarrier(headers)))
}

// tracerOf returns the tracer of tp, nil for no provider: nothing is traced.
func tracerOf(tp trace.TracerProvider) trace.Tracer {
	if tp == nil {
		return nil
	}
	return tp.Tracer(instrumentation)
}

// messagingAttrs are the attributes of every span about records of topic.
func messagingAttrs(op attribute.KeyValue, topic string) []attribute.KeyValue {
	return []attribute.KeyValue{
		semconv.MessagingSystemKafka, op, semconv.MessagingOperationName(op.Value.AsString()),
		semconv.MessagingDestinationName(topic),
	}
}

// sends are the spans of the records of one Publish, in order.
type sends []trace.Span

// startSends starts the span of sending each of msgs, made from records,
// and writes its context to the message's headers in place of any trace
// context the record carried. A record's span is a child of the trace
// context in its headers if it has one, else of the span in ctx.
func startSends(ctx context.Context, tracer trace.Tracer, records []Record, msgs []*sarama.ProducerMessage) sends {
	spans := make(sends, len(msgs))
	for i, pm := range msgs {
		parent := ctx
		if sc := remote(records[i].Headers); sc.IsValid() {
			parent = trace.ContextWithRemoteSpanContext(ctx, sc)
		}
		attrs := messagingAttrs(semconv.MessagingOperationTypeSend, pm.Topic)
		if records[i].Key != nil {
			attrs = append(attrs, semconv.MessagingKafkaMessageKey(string(records[i].Key)))
		}
		sctx, span := tracer.Start(parent, "send "+pm.Topic, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attrs...))
		spans[i] = span
		h := make(headerCarrier, 2)
		propagator.Inject(sctx, h)
		pm.Headers = slices.DeleteFunc(pm.Headers, func(rh sarama.RecordHeader) bool { return isTraceHeader(string(rh.Key)) })
		for k, v := range h {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
	}
	return spans
}

// end ends the spans once sendAll returned err for msgs: a record written
// gets its partition and offset, a record not written the error.
func (s sends) end(msgs []*sarama.ProducerMessage, err error) {
	if s == nil {
		return
	}
	failed := map[*sarama.ProducerMessage]error{}
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) {
		for _, pe := range perrs {
			failed[pe.Msg] = pe.Err
		}
	} else if err != nil {
		for _, pm := range msgs {
			failed[pm] = err
		}
	}
	for i, pm := range msgs {
		if ferr, ok := failed[pm]; ok {
			endSpan(s[i], ferr)
			continue
		}
		s[i].SetAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(int(pm.Partition))),
			semconv.MessagingKafkaOffset(int(pm.Offset)))
		s[i].End()
	}
}

func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// tracedOpen returns open with each batch handler it returns wrapped in the
// span of processing the batch, for consumer group group; open itself when
// tracer is nil.
//
// A batch of one record is processed as a child of the trace context in its
// headers. A larger batch holds records of many traces, so its span starts
// a trace of its own and links to each record's context; a handler that
// follows each record's trace on starts a span per record (StartProcess).
func tracedOpen(tracer trace.Tracer, group string, open OpenFunc) OpenFunc {
	if tracer == nil {
		return open
	}
	return func(ctx context.Context, c Claim) (BatchHandler, error) {
		handle, err := open(ctx, c)
		if err != nil {
			return nil, err
		}
		attrs := append(messagingAttrs(semconv.MessagingOperationTypeProcess, c.Topic),
			semconv.MessagingDestinationPartitionID(strconv.Itoa(int(c.Partition))),
			semconv.MessagingConsumerGroupName(group))
		name := "process " + c.Topic
		return func(ctx context.Context, msgs []*Message) error {
			opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(attrs...)}
			if len(msgs) == 1 {
				opts = append(opts, trace.WithAttributes(recordAttrs(msgs[0])...))
				if sc := remote(msgs[0].Headers); sc.IsValid() {
					ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
				}
			} else {
				links := make([]trace.Link, 0, len(msgs))
				for _, m := range msgs {
					if sc := remote(m.Headers); sc.IsValid() {
						links = append(links, trace.Link{SpanContext: sc})
					}
				}
				opts = append(opts, trace.WithNewRoot(), trace.WithLinks(links...),
					trace.WithAttributes(semconv.MessagingBatchMessageCount(len(msgs))))
			}
			ctx, span := tracer.Start(ctx, name, opts...)
			err := handle(ctx, msgs)
			endSpan(span, err)
			return err
		}, nil
	}
}

// recordAttrs are the attributes of a span about one record, beside those
// of its topic.
func recordAttrs(m *Message) []attribute.KeyValue {
	attrs := []attribute.KeyValue{semconv.MessagingKafkaOffset(int(m.Offset))}
	if m.Key != nil {
		attrs = append(attrs, semconv.MessagingKafkaMessageKey(string(m.Key)))
	}
	return attrs
}

// noEnd is the end of a span not started.
func noEnd(error) {}

// StartProcess starts the span of processing one record of a batch, msg,
// or one part of it, in a BatchHandler whose context the Consumer gave:
// the span is a child of the trace context in headers (msg.Headers for the
// record, or the part's own, as TraceHeaders wrote it) and links to the
// batch's span. The context returned carries the span, so what the handler
// publishes with it continues the record's trace. Call end with the
// outcome once the record or part is done. Without a trace context in
// headers, the span is a child of the batch's; when the consumer traces
// nothing, StartProcess starts nothing and returns ctx.
func StartProcess(ctx context.Context, msg *Message, headers map[string]string) (_ context.Context, end func(error)) {
	batch := trace.SpanFromContext(ctx)
	if !batch.SpanContext().IsValid() {
		return ctx, noEnd
	}
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(messagingAttrs(semconv.MessagingOperationTypeProcess, msg.Topic)...),
		trace.WithAttributes(semconv.MessagingDestinationPartitionID(strconv.Itoa(int(msg.Partition)))),
		trace.WithAttributes(recordAttrs(msg)...),
	}
	if sc := remote(headers); sc.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, sc)
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: batch.SpanContext()}))
	}
	ctx, span := batch.TracerProvider().Tracer(instrumentation).Start(ctx, "process "+msg.Topic, opts...)
	return ctx, func(err error) { endSpan(span, err) }
}
