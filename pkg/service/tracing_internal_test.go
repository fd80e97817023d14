package service

import (
	"context"
	"strings"
	"testing"
)

// TestTracingNeedsAnEndpoint: a service builds a tracer, and its OTLP
// exporter, only when the OTEL_* variables name an endpoint and do not
// switch the SDK or the exporter off.
func TestTracingNeedsAnEndpoint(t *testing.T) {
	t.Parallel()
	const endpoint = "http://127.0.0.1:4318"
	tests := []struct {
		name    string
		env     map[string]string
		want    bool
		wantErr string
	}{
		{"no endpoint", nil, false, ""},
		{"endpoint", map[string]string{envEndpoint: endpoint}, true, ""},
		{"traces endpoint", map[string]string{envTracesEndpoint: endpoint + "/v1/traces"}, true, ""},
		{"sdk disabled", map[string]string{envEndpoint: endpoint, envSDKDisabled: "true"}, false, ""},
		{"exporter none", map[string]string{envEndpoint: endpoint, envTracesExporter: "none"}, false, ""},
		{"sampler off", map[string]string{envEndpoint: endpoint, "OTEL_TRACES_SAMPLER": "always_off"}, true, ""},
		{"grpc", map[string]string{envEndpoint: endpoint, envProtocol: "grpc"}, false, envProtocol},
		{"unknown exporter", map[string]string{envEndpoint: endpoint, envTracesExporter: "zipkin"}, false, envTracesExporter},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tp, err := newTracerProvider(context.Background(), "test-service", func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := tp != nil; got != tc.want {
				t.Errorf("tracer built: %v, want %v", got, tc.want)
			}
			if tp != nil {
				_ = tp.Shutdown(context.Background())
			}
		})
	}
}
