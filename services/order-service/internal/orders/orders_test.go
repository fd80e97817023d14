package orders_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
	"github.com/eventshop/eventshop/services/order-service/internal/orders"
)

const testTimeout = 10 * time.Second

func TestPlacePublishesTheOrderAndItsLoggingActionInOneBatch(t *testing.T) {
	t.Parallel()
	pub := &eventbustest.Events{}
	core, logs := observer.New(zapcore.InfoLevel)
	svc := orders.NewService(pub, eventbustest.SequentialIDs(), testTimeout, zap.New(core))

	order := sampleOrder("ORDER-42")
	if err := svc.Place(context.Background(), order, orders.SourceHTTP); err != nil {
		t.Fatalf("Place: %v", err)
	}

	want := [][]contracts.Event{{order, newOrderAction}}
	if got := pub.Calls(); !reflect.DeepEqual(got, want) {
		t.Errorf("published %#v\nwant %#v", got, want)
	}
	placed := logs.FilterMessage("order placed").All()
	if len(placed) != 1 {
		t.Fatalf("logged %d 'order placed' entries, want 1: %v", len(placed), logs.All())
	}
	wantFields := map[string]any{"order_id": "ORDER-42", "customer_id": "CUSTOMER-123", "lines": int64(2), "source": "http"}
	if got := placed[0].ContextMap(); !reflect.DeepEqual(got, wantFields) {
		t.Errorf("log fields = %v, want %v", got, wantFields)
	}
}

func TestPlaceRefusesAnInvalidOrderAndPublishesNothing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*contracts.Order)
		field string
	}{
		{"no order id", func(o *contracts.Order) { o.OrderID = "" }, "orderId"},
		{"blank customer id", func(o *contracts.Order) { o.CustomerID = " " }, "customerId"},
		{"no products", func(o *contracts.Order) { o.Products = nil }, "products"},
		{"zero quantity", func(o *contracts.Order) { o.Products[1].Quantity = 0 }, "products[1].quantity"},
		{"negative price", func(o *contracts.Order) { o.Products[0].TotalPrice = -1 }, "products[0].totalPrice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &eventbustest.Events{}
			svc := orders.NewService(pub, eventbustest.SequentialIDs(), testTimeout, zap.NewNop())
			order := sampleOrder("ORDER-1")
			tt.edit(&order)

			err := svc.Place(context.Background(), order, orders.SourceHTTP)
			ve, ok := errors.AsType[*contracts.ValidationError](err)
			if !ok || !errors.Is(err, contracts.ErrInvalid) {
				t.Fatalf("Place = %v, want a contracts.ValidationError", err)
			}
			if len(ve.Fields) != 1 || ve.Fields[0].Field != tt.field {
				t.Errorf("Place refused %v, want only field %s", ve.Fields, tt.field)
			}
			if calls := pub.Calls(); len(calls) != 0 {
				t.Errorf("published %v, want nothing", calls)
			}
		})
	}
}

func TestPlaceReturnsThePublishError(t *testing.T) {
	t.Parallel()
	errBroker := errors.New("broker down")
	pub := &eventbustest.Events{Fail: func(int) error { return errBroker }}
	core, logs := observer.New(zapcore.InfoLevel)
	svc := orders.NewService(pub, eventbustest.SequentialIDs(), testTimeout, zap.New(core))

	err := svc.Place(context.Background(), sampleOrder("ORDER-7"), orders.SourceSimulator)
	if !errors.Is(err, errBroker) {
		t.Fatalf("Place = %v, want it to wrap %v", err, errBroker)
	}
	if n := logs.FilterMessage("order placed").Len(); n != 0 {
		t.Errorf("logged 'order placed' %d times for an order that was not placed", n)
	}
}

func TestPlaceGivesUpAfterThePublishTimeout(t *testing.T) {
	t.Parallel()
	svc := orders.NewService(eventbustest.Blocking[contracts.Event]{}, eventbustest.SequentialIDs(), 10*time.Millisecond, zap.NewNop())

	// Without the timeout Place would wait for ever; the test's own deadline
	// is the backstop.
	err := svc.Place(context.Background(), sampleOrder("ORDER-1"), orders.SourceHTTP)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Place = %v, want context.DeadlineExceeded", err)
	}
}

func TestNewOrderIDPrefixesAFreshID(t *testing.T) {
	t.Parallel()
	svc := orders.NewService(&eventbustest.Events{}, eventbustest.SequentialIDs(), testTimeout, zap.NewNop())
	for _, want := range []string{"ORDER-1", "ORDER-2"} {
		if got := svc.NewOrderID(); got != want {
			t.Errorf("NewOrderID() = %q, want %q", got, want)
		}
	}
}

// TestPlacedCountsAcknowledgedOrdersBySource places orders from both
// sources, one refused as invalid and one whose publish fails: only those
// published count, each under its source.
func TestPlacedCountsAcknowledgedOrdersBySource(t *testing.T) {
	t.Parallel()
	pub := &eventbustest.Events{Fail: func(call int) error {
		if call == 3 {
			return errors.New("broker down")
		}
		return nil
	}}
	svc := orders.NewService(pub, eventbustest.SequentialIDs(), testTimeout, zap.NewNop())
	invalid := sampleOrder("ORDER-BAD")
	invalid.Products = nil
	for _, place := range []struct {
		order  contracts.Order
		source orders.Source
	}{
		{sampleOrder("ORDER-1"), orders.SourceHTTP},
		{sampleOrder("ORDER-2"), orders.SourceSimulator},
		{sampleOrder("ORDER-3"), orders.SourceHTTP}, // the third publish fails
		{invalid, orders.SourceHTTP},
		{sampleOrder("ORDER-4"), orders.SourceHTTP},
	} {
		_ = svc.Place(context.Background(), place.order, place.source)
	}
	if got := svc.Placed(orders.SourceHTTP); got != 2 {
		t.Errorf("Placed(http) = %d, want 2", got)
	}
	if got := svc.Placed(orders.SourceSimulator); got != 1 {
		t.Errorf("Placed(simulator) = %d, want 1", got)
	}
}
