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

// startSimulator runs a simulator placing orders through pub every interval
// until the test ends or stop is called. stop waits for Run to return and
// fails the test unless it returned nil.
func startSimulator(t *testing.T, pub orders.Publisher, interval time.Duration, log *zap.Logger) (stop func()) {
	t.Helper()
	svc := orders.NewService(pub, eventbustest.SequentialIDs(), testTimeout, log)
	sim := orders.NewSimulator(svc, interval, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sim.Run(ctx) }()

	stopped := false
	stop = func() {
		t.Helper()
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run = %v, want nil", err)
			}
		case <-time.After(testTimeout):
			t.Fatal("Run did not return after its context was cancelled")
		}
	}
	t.Cleanup(stop)
	return stop
}

// awaitCall waits for the publisher's next call and returns its number.
func awaitCall(t *testing.T, pub *eventbustest.Events) int {
	t.Helper()
	select {
	case n := <-pub.Notify:
		return n
	case <-time.After(testTimeout):
		t.Fatal("no order was published")
		return 0
	}
}

func TestSimulatorPlacesTheSampleOrderUnderFreshIDsEachTick(t *testing.T) {
	t.Parallel()
	pub := &eventbustest.Events{Notify: make(chan int)}
	stop := startSimulator(t, pub, time.Millisecond, zap.NewNop())
	for range 3 {
		awaitCall(t, pub)
	}
	stop()

	calls := pub.Calls()
	want := [][]contracts.Event{
		{sampleOrder("ORDER-1"), newOrderAction},
		{sampleOrder("ORDER-2"), newOrderAction},
		{sampleOrder("ORDER-3"), newOrderAction},
	}
	// A fourth order may have been on its way when the simulator stopped.
	if len(calls) < len(want) || !reflect.DeepEqual(calls[:len(want)], want) {
		t.Errorf("published %#v\nwant first %#v", calls, want)
	}
}

func TestSimulatorPlacesTheFirstOrderAtStart(t *testing.T) {
	t.Parallel()
	pub := &eventbustest.Events{Notify: make(chan int)}
	// An hour-long interval: an order arriving within the test's timeout
	// can only be the one placed at start.
	stop := startSimulator(t, pub, time.Hour, zap.NewNop())
	if n := awaitCall(t, pub); n != 1 {
		t.Fatalf("first call is number %d", n)
	}
	stop()
	if calls := pub.Calls(); len(calls) != 1 {
		t.Errorf("published %d times, want once", len(calls))
	}
}

func TestSimulatorLogsAFailedOrderAndKeepsGoing(t *testing.T) {
	t.Parallel()
	errBroker := errors.New("broker down")
	pub := &eventbustest.Events{
		Notify: make(chan int),
		Fail: func(call int) error {
			if call == 1 {
				return errBroker
			}
			return nil
		},
	}
	core, logs := observer.New(zapcore.InfoLevel)
	stop := startSimulator(t, pub, time.Millisecond, zap.New(core))
	awaitCall(t, pub)
	awaitCall(t, pub)
	stop()

	failed := logs.FilterMessage("simulated order failed").All()
	if len(failed) != 1 || failed[0].Level != zapcore.ErrorLevel {
		t.Fatalf("logged %v, want one error entry 'simulated order failed'", logs.All())
	}
	if got := failed[0].ContextMap()["order_id"]; got != "ORDER-1" {
		t.Errorf("failure logged for order %v, want ORDER-1", got)
	}
	if logs.FilterMessage("order placed").FilterField(zap.String("order_id", "ORDER-2")).Len() != 1 {
		t.Errorf("order ORDER-2 after the failure was not logged as placed: %v", logs.All())
	}
}

func TestSimulatorWithIntervalZeroIsOff(t *testing.T) {
	t.Parallel()
	pub := &eventbustest.Events{}
	svc := orders.NewService(pub, eventbustest.SequentialIDs(), testTimeout, zap.NewNop())
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()

	if err := orders.NewSimulator(svc, 0, zap.NewNop()).Run(ctx); err != nil {
		t.Fatalf("Run = %v, want nil", err)
	}
	if ctx.Err() != nil {
		t.Error("Run waited for its context to end, want an immediate return")
	}
	if calls := pub.Calls(); len(calls) != 0 {
		t.Errorf("published %v, want nothing", calls)
	}
}
