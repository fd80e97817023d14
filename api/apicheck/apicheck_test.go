package apicheck_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/eventshop/eventshop/api/apicheck"
)

// eventHeaders are the headers a Go service puts on an event of type
// eventType.
func eventHeaders(eventType, source string) map[string]string {
	return map[string]string{
		"event-id": "6f1c3c8e-8d7e-4f4e-9a51-0b7f8a0f5d11", "correlation-id": "c-1", "event-type": eventType,
		"schema-version": "1", "produced-at": "2026-11-30T13:27:59.123456789Z", "source-service": source,
	}
}

func deadLetterHeaders() map[string]string {
	return map[string]string{
		"dlt-origin-topic": "new-order-topic", "dlt-origin-partition": "2", "dlt-origin-offset": "41",
		"dlt-error": "decode: products: must not be empty", "dlt-consumer-group": "inventory-service-group",
		"dlt-failed-at": "2026-11-30T13:28:01.5Z",
	}
}

func without(h map[string]string, key string) map[string]string {
	out := make(map[string]string, len(h))
	for k, v := range h {
		if k != key {
			out[k] = v
		}
	}
	return out
}

// wantError fails t unless err is nil for want "", or names want.
func wantError(t *testing.T, err error, want string) {
	t.Helper()
	switch {
	case want == "" && err != nil:
		t.Errorf("refused: %v", err)
	case want != "" && err == nil:
		t.Errorf("accepted, want an error about %s", want)
	case want != "" && !strings.Contains(err.Error(), want):
		t.Errorf("error %v does not name %s", err, want)
	}
}

func TestCheckRecord(t *testing.T) {
	t.Parallel()
	docs, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	order := `{"orderId":"O-1","customerId":"C-1","products":[{"productId":"P","quantity":1,"totalPrice":0}]}`
	tests := []struct {
		name, topic, key string
		headers          map[string]string
		value            string
		wantErr          string // "" for a valid record
	}{
		{"order", "new-order-topic", "O-1", eventHeaders("new-order", "order-service"), order, ""},
		{"order without event-id", "new-order-topic", "O-1", without(eventHeaders("new-order", "order-service"), "event-id"), order, "event-id"},
		{"order of another event type", "new-order-topic", "O-1", eventHeaders("logging-action", "order-service"), order, "event-type"},
		{"order keyed by another id", "new-order-topic", "O-2", eventHeaders("new-order", "order-service"), order, `key "O-2"`},
		{"order that breaks the contract", "new-order-topic", "O-1", eventHeaders("new-order", "order-service"),
			`{"orderId":"O-1","customerId":"C-1","products":[]}`, "products"},
		{"refill from order-service", "inventory-empty-topic", "P", eventHeaders("inventory-empty", "order-service"), `{"productId":"P"}`, "source-service"},
		{"dead letter", "dead-letter-topic", "", deadLetterHeaders(), "not even JSON", ""},
		{"dead letter without its error", "dead-letter-topic", "", without(deadLetterHeaders(), "dlt-error"), "x", "dlt-error"},
		{"dead letter with a negative offset", "dead-letter-topic", "", func() map[string]string {
			h := deadLetterHeaders()
			h["dlt-origin-offset"] = "-1"
			return h
		}(), "x", "dlt-origin-offset"},
		{"reservations", "g-reservations", "P", nil,
			`{"productId":"P","lines":[{"orderId":"O","line":0,"quantity":3,"orderPartition":2,"orderOffset":41,"correlationId":"c"}]}`, ""},
		{"reservations without lines", "g-reservations", "P", nil, `{"productId":"P","lines":[]}`, "lines"},
		{"stock", "g-stock-changelog", "P", nil, `{"stock":106,"lines":1,"refills":0}`, ""},
		{"applied orders", "g-applied-orders-changelog", "", nil,
			`{"lines":[{"orderId":"O","productId":"P","orderPartition":2,"orderOffset":41,"line":0,"at":1765152000000}]}`, ""},
		{"applied orders without a product", "g-applied-orders-changelog", "", nil,
			`{"lines":[{"orderId":"O","orderPartition":2,"orderOffset":41,"line":0,"at":1765152000000}]}`, "productId"},
		{"an undocumented topic", "orders", "O-1", nil, order, "not in asyncapi.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, docs.CheckRecord(tt.topic, []byte(tt.key), tt.headers, []byte(tt.value)), tt.wantErr)
		})
	}
}

func TestCheckExchange(t *testing.T) {
	t.Parallel()
	docs, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	valid := `{"customerId":"C","products":[{"productId":"P","quantity":1,"totalPrice":0}]}`
	tests := []struct {
		name    string
		e       apicheck.Exchange
		wantErr string
	}{
		{"202", apicheck.Exchange{Method: "POST", Path: "/orders", RequestHeader: jsonHeader, RequestBody: []byte(valid),
			Status: 202, Header: jsonHeader, Body: []byte(`{"orderId":"O"}`)}, ""},
		{"undocumented member", apicheck.Exchange{Method: "POST", Path: "/orders", RequestHeader: jsonHeader, RequestBody: []byte(valid),
			Status: 202, Header: jsonHeader, Body: []byte(`{"orderId":"O","at":1}`)}, "additional properties 'at'"},
		{"undocumented status", apicheck.Exchange{Method: "POST", Path: "/orders", RequestHeader: jsonHeader, RequestBody: []byte(valid),
			Status: 201, Header: jsonHeader, Body: []byte(`{"orderId":"O"}`)}, "status 201 not in openapi.yaml"},
		{"taken though invalid", apicheck.Exchange{Method: "POST", Path: "/orders", RequestHeader: jsonHeader, RequestBody: []byte(`{"customerId":"C","products":[]}`),
			Status: 202, Header: jsonHeader, Body: []byte(`{"orderId":"O"}`)}, "yet taken"},
		{"refused though valid", apicheck.Exchange{Method: "POST", Path: "/orders", RequestHeader: jsonHeader, RequestBody: []byte(valid),
			Status: 400, Header: jsonHeader, Body: []byte(`{"error":"invalid order"}`)}, "yet refused"},
		{"405 without Allow", apicheck.Exchange{Method: "GET", Path: "/orders",
			Status: 405, Header: jsonHeader, Body: []byte(`{"error":"method GET not allowed: use POST"}`)}, "Allow"},
		{"other method not refused", apicheck.Exchange{Method: "PUT", Path: "/stock",
			Status: 200, Header: jsonHeader, Body: []byte(`{}`)}, "rather than 405"},
		{"undocumented path", apicheck.Exchange{Method: "GET", Path: "/orders/1", Status: 404}, "path not in openapi.yaml"},
		{"undocumented content type", apicheck.Exchange{Method: "GET", Path: "/stock",
			Status: 200, Header: http.Header{"Content-Type": {"text/plain"}}, Body: []byte(`{}`)}, "content type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			wantError(t, docs.CheckExchange(tt.e), tt.wantErr)
		})
	}
}
