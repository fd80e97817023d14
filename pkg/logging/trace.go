package logging

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// Trace returns a field that logs the trace_id and span_id of the span in
// ctx, so that a log line written while handling a traced request or
// record leads to its trace; it logs nothing when ctx holds no span, as
// when tracing is off.
func Trace(ctx context.Context) zap.Field {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return zap.Skip()
	}
	return zap.Inline(spanIDs{sc.TraceID(), sc.SpanID()})
}

type spanIDs struct {
	trace trace.TraceID
	span  trace.SpanID
}

func (s spanIDs) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("trace_id", s.trace.String())
	enc.AddString("span_id", s.span.String())
	return nil
}
