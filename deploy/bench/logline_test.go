package main

import (
	"sync"
	"testing"
	"time"
)

// Lines as the services write them with LOG_FORMAT=json.
const (
	congratsLine = `{"level":"info","ts":"2026-11-30T07:07:55.483402346Z","caller":"notify/log.go:36","msg":"Congrats CUSTOMER-123, your order ORDER-1 has been approved!","service":"notification-service","kind":"order-approved","recipient":"CUSTOMER-123","order_id":"ORDER-1","customer_id":"CUSTOMER-123","correlation_id":"corr-1"}`
	refillLine   = `{"level":"info","ts":"2026-11-30T07:07:55.5Z","caller":"notify/log.go:36","msg":"Product PRODUCT-123 has to be REFILLED!","service":"notification-service","kind":"refill-needed","recipient":"staff","product_id":"PRODUCT-123","correlation_id":"corr-1"}`
	newOrderLine = `{"level":"info","ts":"2026-11-30T07:07:55.475277735Z","caller":"actionlog/actionlog.go:56","msg":"Logging Service: serviceName: order-service, action: new-order","service":"logging-service","service_name":"order-service","action":"new-order","correlation_id":"corr-1"}`
	updatedLine1 = `{"level":"info","ts":"2026-11-30T07:07:55.493476224Z","caller":"actionlog/actionlog.go:56","msg":"Logging Service: serviceName: inventory-service, action: inventory-updated","service":"logging-service","service_name":"inventory-service","action":"inventory-updated","correlation_id":"corr-1"}`
	updatedLine2 = `{"level":"info","ts":"2026-11-30T07:07:55.493537779Z","caller":"actionlog/actionlog.go:56","msg":"Logging Service: serviceName: inventory-service, action: inventory-updated","service":"logging-service","service_name":"inventory-service","action":"inventory-updated","correlation_id":"corr-1"}`
	consoleLine  = `2026-11-30T07:07:55.483Z	INFO	notify/log.go:36	Congrats CUSTOMER-123, your order ORDER-1 has been approved!	{"kind": "order-approved", "order_id": "ORDER-1"}`
)

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestParseLogLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		line string
		ok   bool
		want logLine
	}{
		{"congratulation", congratsLine, true, logLine{
			Time: mustTime(t, "2026-11-30T07:07:55.483402346Z"), Kind: "order-approved", OrderID: "ORDER-1", CorrelationID: "corr-1"}},
		{"logging action", updatedLine1, true, logLine{
			Time: mustTime(t, "2026-11-30T07:07:55.493476224Z"), ServiceName: "inventory-service", Action: "inventory-updated", CorrelationID: "corr-1"}},
		{"console format", consoleLine, false, logLine{}},
		{"JSON without a timestamp", `{"msg":"x","order_id":"ORDER-1"}`, false, logLine{}},
		{"a timestamp that is not RFC 3339", `{"ts":1764486475.48,"msg":"x"}`, false, logLine{}},
		{"truncated", congratsLine[:80], false, logLine{}},
		{"empty", "", false, logLine{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := parseLogLine([]byte(tt.line))
			if ok != tt.ok || !got.Time.Equal(tt.want.Time) || got.Kind != tt.want.Kind || got.OrderID != tt.want.OrderID ||
				got.ServiceName != tt.want.ServiceName || got.Action != tt.want.Action || got.CorrelationID != tt.want.CorrelationID {
				t.Errorf("parseLogLine = %+v, %v; want %+v, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestArrivals(t *testing.T) {
	t.Parallel()
	a := newArrivals()
	for _, l := range []string{refillLine, consoleLine, congratsLine, congratsLine} {
		a.notificationLine([]byte(l))
	}
	// Out of order on purpose: the second update is the order's last.
	for _, l := range []string{newOrderLine, updatedLine2, consoleLine, updatedLine1} {
		a.loggingLine([]byte(l))
	}

	if got, ok := a.notifiedAt("ORDER-1"); !ok || !got.Equal(mustTime(t, "2026-11-30T07:07:55.483402346Z")) {
		t.Errorf("notifiedAt(ORDER-1) = %v, %v; want the congratulation's time", got, ok)
	}
	if _, ok := a.notifiedAt("ORDER-2"); ok {
		t.Error("notifiedAt(ORDER-2) found an order never congratulated")
	}
	if got, ok := a.updatedAt("corr-1", 1); !ok || !got.Equal(mustTime(t, "2026-11-30T07:07:55.493476224Z")) {
		t.Errorf("updatedAt(corr-1, 1) = %v, %v; want the first update's time", got, ok)
	}
	if got, ok := a.updatedAt("corr-1", 2); !ok || !got.Equal(mustTime(t, "2026-11-30T07:07:55.493537779Z")) {
		t.Errorf("updatedAt(corr-1, 2) = %v, %v; want the second update's time", got, ok)
	}
	if _, ok := a.updatedAt("corr-1", 3); ok {
		t.Error("updatedAt(corr-1, 3) found a third update")
	}
	if notified, updated := a.counts(2); notified != 1 || updated != 1 {
		t.Errorf("counts(2) = %d, %d; want 1, 1", notified, updated)
	}
	if _, updated := a.counts(3); updated != 0 {
		t.Errorf("counts(3) updated = %d, want 0", updated)
	}
}

func TestArrivalsConcurrentStreams(t *testing.T) {
	t.Parallel()
	a := newArrivals()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				a.notificationLine([]byte(congratsLine))
				a.loggingLine([]byte(updatedLine1))
			}
		})
	}
	wg.Wait()
	if notified, updated := a.counts(400); notified != 1 || updated != 1 {
		t.Errorf("counts(400) = %d, %d; want 1 order, 1 correlation id with 400 updates", notified, updated)
	}
}
