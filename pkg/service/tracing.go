package service

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.uber.org/zap"
)

// The OpenTelemetry variables that decide whether a service traces. The
// exporter and the SDK read the rest of the OTEL_* variables themselves:
// OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES, OTEL_TRACES_SAMPLER and
// its argument, the OTLP headers, timeout and compression, the batch span
// processor's limits.
const (
	envSDKDisabled    = "OTEL_SDK_DISABLED"
	envTracesExporter = "OTEL_TRACES_EXPORTER"
	envEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	envTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	envProtocol       = "OTEL_EXPORTER_OTLP_PROTOCOL"
	envTracesProtocol = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"
)

// newTracerProvider returns the tracer provider of the service called
// name, which exports its spans over OTLP/HTTP to the endpoint the OTEL_*
// variables (read with getenv) name, and names the service name unless
// OTEL_SERVICE_NAME says otherwise. It returns nil, and builds no exporter,
// when no endpoint is set, when OTEL_SDK_DISABLED is true or
// OTEL_TRACES_EXPORTER is none: then nothing is traced, at no cost.
func newTracerProvider(ctx context.Context, name string, getenv func(string) string) (*sdktrace.TracerProvider, error) {
	endpoint := firstSet(getenv(envTracesEndpoint), getenv(envEndpoint))
	if strings.EqualFold(strings.TrimSpace(getenv(envSDKDisabled)), "true") || endpoint == "" {
		return nil, nil
	}
	switch exporter := getenv(envTracesExporter); exporter {
	case "none":
		return nil, nil
	case "", "otlp":
	default:
		return nil, fmt.Errorf("%s: %q is not supported (use otlp, or none for no traces)", envTracesExporter, exporter)
	}
	if p := firstSet(getenv(envTracesProtocol), getenv(envProtocol)); p != "" && p != "http/protobuf" {
		return nil, fmt.Errorf("%s: %q is not supported (use http/protobuf: OTLP over HTTP, port 4318)", envProtocol, p)
	}
	exporter, err := otlptracehttp.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter to %s: %w", endpoint, err)
	}
	// The service's name first: OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES, detected after it, override it.
	res, err := resource.New(ctx,
		resource.WithAttributes(semconv.ServiceName(name)), resource.WithFromEnv(), resource.WithTelemetrySDK())
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return sdktrace.NewTracerProvider(sdktrace.WithBatcher(exporter), sdktrace.WithResource(res)), nil
}

// firstSet returns the first of values that is not blank, trimmed.
func firstSet(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// startTracing sets the service's tracer up from the OTEL_* variables: its
// Kafka clients trace what they send and process, and its HTTP routes
// what they serve.
func (a *App) startTracing(ctx context.Context, getenv func(string) string) error {
	tp, err := newTracerProvider(ctx, a.name, getenv)
	if err != nil || tp == nil {
		return err
	}
	a.tracer = tp
	a.kafka.TracerProvider = tp
	// The SDK reports what it could not export through a handler of the
	// process, as sarama does through its logger.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { a.Log.Warn("tracing failed", zap.Error(err)) }))
	a.Log.Info("tracing: spans exported over OTLP",
		zap.String("endpoint", firstSet(getenv(envTracesEndpoint), getenv(envEndpoint))))
	return nil
}

// traced returns h, served in a span named after its route ("POST
// /orders") that continues the trace of the request's traceparent, when
// the service traces.
func (a *App) traced(h http.Handler) http.Handler {
	if a.tracer == nil {
		return h
	}
	return otelhttp.NewHandler(h, "http",
		otelhttp.WithTracerProvider(a.tracer),
		otelhttp.WithPropagators(propagation.TraceContext{}),
		// The service's metrics are its own (see /metrics).
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
}

// stopTracing exports the spans not exported yet and stops the tracer,
// giving up at deadline.
func (a *App) stopTracing(deadline time.Time) {
	if a.tracer == nil {
		return
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	if err := a.tracer.Shutdown(ctx); err != nil {
		a.Log.Warn("spans lost: the tracer did not flush within the shutdown timeout", zap.Error(err))
	}
}
