package orders_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// recordingPublisher records every Publish call. If notify is set, each call
// then waits until the test receives its number (1, 2, ...) or ctx ends, so
// a test can step the simulator one order at a time. If fail is set, its
// result for the call's number is returned.
type recordingPublisher struct {
	notify chan int
	fail   func(call int) error

	mu    sync.Mutex
	calls [][]contracts.Event
}

func (p *recordingPublisher) Publish(ctx context.Context, events ...contracts.Event) error {
	p.mu.Lock()
	p.calls = append(p.calls, slices.Clone(events))
	n := len(p.calls)
	p.mu.Unlock()
	if p.notify != nil {
		select {
		case p.notify <- n:
		case <-ctx.Done():
		}
	}
	if p.fail != nil {
		return p.fail(n)
	}
	return nil
}

func (p *recordingPublisher) Calls() [][]contracts.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// blockingPublisher never gets an acknowledgement: it waits for ctx to end.
type blockingPublisher struct{}

func (blockingPublisher) Publish(ctx context.Context, _ ...contracts.Event) error {
	<-ctx.Done()
	return ctx.Err()
}

// sequentialIDs returns an id generator giving "1", "2", "3", ...
func sequentialIDs() func() string {
	var n atomic.Int64
	return func() string { return strconv.FormatInt(n.Add(1), 10) }
}

// newOrderAction is the logging action that goes with every placed order.
var newOrderAction = contracts.LoggingAction{ServiceName: "order-service", Action: "new-order"}

// sampleOrder returns the tutorial's sample order under id.
func sampleOrder(id string) contracts.Order {
	o := contracts.SampleOrder()
	o.OrderID = id
	return o
}
