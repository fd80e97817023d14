package contracts_test

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/eventshop/eventshop/pkg/contracts"
)

func TestValidateAcceptsValidEvents(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event contracts.Event
	}{
		{name: "sample order", event: contracts.SampleOrder()},
		{name: "inventory empty", event: contracts.InventoryEmpty{ProductID: "PRODUCT-123"}},
		{name: "logging action", event: contracts.LoggingAction{ServiceName: contracts.ServiceInventory, Action: contracts.ActionInventoryUpdated}},
		{name: "action outside the constants", event: contracts.LoggingAction{ServiceName: "legacy-service", Action: "something-else"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Compared with == nil on purpose: a nil *ValidationError in a
			// non-nil error would fail here.
			if err := tt.event.Validate(); err != nil {
				t.Errorf("Validate() = %v, want nil", err)
			}
		})
	}
}

// withLine returns the sample order with its first line changed by edit.
func withLine(edit func(*contracts.OrderLine)) contracts.Order {
	o := contracts.SampleOrder()
	edit(&o.Products[0])
	return o
}

func TestValidateRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		event  contracts.Event
		field  string
		reason string
	}{
		{name: "orderId empty", event: contracts.Order{CustomerID: "C", Products: contracts.SampleOrder().Products}, field: "orderId", reason: "is required"},
		{name: "customerId whitespace only", event: contracts.Order{OrderID: "O", CustomerID: "\u00a0 ", Products: contracts.SampleOrder().Products}, field: "customerId", reason: "must not be blank"},
		{name: "orderId not UTF-8", event: contracts.Order{OrderID: "O-\xff", CustomerID: "C", Products: contracts.SampleOrder().Products}, field: "orderId", reason: "must be valid UTF-8"},
		{name: "products nil", event: contracts.Order{OrderID: "O", CustomerID: "C"}, field: "products", reason: "must not be empty"},
		{name: "products empty", event: contracts.Order{OrderID: "O", CustomerID: "C", Products: []contracts.OrderLine{}}, field: "products", reason: "must not be empty"},
		{name: "productId empty", event: withLine(func(l *contracts.OrderLine) { l.ProductID = "" }), field: "products[0].productId", reason: "is required"},
		{name: "quantity zero", event: withLine(func(l *contracts.OrderLine) { l.Quantity = 0 }), field: "products[0].quantity", reason: "must be a positive integer"},
		{name: "quantity negative", event: withLine(func(l *contracts.OrderLine) { l.Quantity = -1 }), field: "products[0].quantity", reason: "must be a positive integer"},
		{name: "quantity beyond JavaScript's exact integers", event: withLine(func(l *contracts.OrderLine) { l.Quantity = 1 << 53 }), field: "products[0].quantity", reason: "must be at most 9007199254740991"},
		{name: "totalPrice negative", event: withLine(func(l *contracts.OrderLine) { l.TotalPrice = -80 }), field: "products[0].totalPrice", reason: "must not be negative"},
		{name: "totalPrice NaN", event: withLine(func(l *contracts.OrderLine) { l.TotalPrice = math.NaN() }), field: "products[0].totalPrice", reason: "must be a finite number"},
		{name: "totalPrice infinite", event: withLine(func(l *contracts.OrderLine) { l.TotalPrice = math.Inf(1) }), field: "products[0].totalPrice", reason: "must be a finite number"},
		{name: "inventory empty without productId", event: contracts.InventoryEmpty{}, field: "productId", reason: "is required"},
		{name: "logging action without serviceName", event: contracts.LoggingAction{Action: "a"}, field: "serviceName", reason: "is required"},
		{name: "logging action with blank action", event: contracts.LoggingAction{ServiceName: "s", Action: " "}, field: "action", reason: "must not be blank"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assertFieldError(t, tt.event.Validate(), tt.field, tt.reason)

			// Encode must refuse what Validate refuses, with the same error.
			body, err := contracts.Encode(tt.event)
			if body != nil {
				t.Errorf("Encode returned a body for an invalid event: %s", body)
			}
			assertFieldError(t, err, tt.field, tt.reason)
		})
	}
}

func TestValidationErrorText(t *testing.T) {
	t.Parallel()
	err := contracts.Order{Products: []contracts.OrderLine{{ProductID: "P", Quantity: 0, TotalPrice: -1}}}.Validate()
	const want = "invalid new-order event: orderId: is required; customerId: is required; " +
		"products[0].quantity: must be a positive integer; products[0].totalPrice: must not be negative"
	if err == nil || err.Error() != want {
		t.Errorf("Validate() = %v\nwant %s", err, want)
	}
	if !errors.Is(err, contracts.ErrInvalid) {
		t.Errorf("errors.Is(%v, ErrInvalid) = false", err)
	}

	_, err = contracts.DecodeOrder([]byte("{"))
	const wantPrefix = "invalid new-order event: not valid JSON: "
	if err == nil || !strings.HasPrefix(err.Error(), wantPrefix) {
		t.Errorf("DecodeOrder({) = %v, want %q...", err, wantPrefix)
	}
}

func TestRouting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		event     contracts.Event
		topic     string
		key       string
		eventType string
	}{
		{name: "order", event: contracts.SampleOrder(), topic: "new-order-topic", key: "ORDER-123", eventType: "new-order"},
		{name: "inventory empty", event: contracts.InventoryEmpty{ProductID: "PRODUCT-321"}, topic: "inventory-empty-topic", key: "PRODUCT-321", eventType: "inventory-empty"},
		{name: "logging action", event: contracts.LoggingAction{ServiceName: "inventory-service", Action: "inventory-empty"}, topic: "new-logging-action-topic", key: "inventory-service", eventType: "logging-action"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.event.Topic(); got != tt.topic {
				t.Errorf("Topic() = %q, want %q", got, tt.topic)
			}
			if got := tt.event.Key(); got != tt.key {
				t.Errorf("Key() = %q, want %q", got, tt.key)
			}
			if got := tt.event.EventType(); got != tt.eventType {
				t.Errorf("EventType() = %q, want %q", got, tt.eventType)
			}
		})
	}
}

func TestTopicsReturnsAFreshSlice(t *testing.T) {
	t.Parallel()
	want := []string{"new-order-topic", "inventory-empty-topic", "new-logging-action-topic"}
	topics := contracts.Topics()
	if !slices.Equal(topics, want) {
		t.Fatalf("Topics() = %q, want %q", topics, want)
	}
	topics[0] = "changed"
	if got := contracts.Topics(); !slices.Equal(got, want) {
		t.Errorf("after changing a returned slice, Topics() = %q", got)
	}
}

func TestSampleOrderReturnsAFreshValue(t *testing.T) {
	t.Parallel()
	o := contracts.SampleOrder()
	o.Products[0].Quantity = 99
	if got := contracts.SampleOrder().Products[0].Quantity; got != 3 {
		t.Errorf("after changing a returned order, SampleOrder's first quantity = %d, want 3", got)
	}
}
