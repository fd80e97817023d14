// Package eventbustest holds the hand-written test doubles of the
// publishers the shop's code is given: a use case's Publisher of
// contracts.Event (eventbus.Publisher in a service) and kafka.Publisher of
// kafka.Record (the producer). They keep what they are given in memory, so
// that a test of a use case, a pipeline or a middleware needs no broker.
package eventbustest

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// Publisher publishes values of T by recording every call; Events and
// Records are the two the shop's code is given. Its zero value acknowledges every call. It is safe
// for concurrent use.
type Publisher[T any] struct {
	// Fail, if set, gives the result of each call from the call's number:
	// 1, 2, ... A failed call is recorded too.
	Fail func(call int) error
	// Notify, if set, makes each call, once recorded, wait until the test
	// receives its number or the call's context ends, so that a test can
	// step its caller one publish at a time.
	Notify chan int

	mu    sync.Mutex
	calls [][]T
}

// Publish records values as one call, then answers as Fail and Notify say.
func (p *Publisher[T]) Publish(ctx context.Context, values ...T) error {
	p.mu.Lock()
	p.calls = append(p.calls, slices.Clone(values))
	n := len(p.calls)
	p.mu.Unlock()
	if p.Notify != nil {
		select {
		case p.Notify <- n:
		case <-ctx.Done():
		}
	}
	if p.Fail != nil {
		return p.Fail(n)
	}
	return nil
}

// Calls returns the values of each call so far, in the order of the calls.
func (p *Publisher[T]) Calls() [][]T {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// Published returns the values of every call so far, in the order they
// were given.
func (p *Publisher[T]) Published() []T {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Concat(p.calls...)
}

// Events is a Publisher of events, as a use case publishes them.
type Events = Publisher[contracts.Event]

// Records is a kafka.Publisher, as a producer publishes records.
type Records = Publisher[kafka.Record]

// Blocking publishes values of T to a broker that never acknowledges: each
// call waits for its context to end and returns the context's error.
type Blocking[T any] struct{}

// Publish waits for ctx to end.
func (Blocking[T]) Publish(ctx context.Context, _ ...T) error {
	<-ctx.Done()
	return ctx.Err()
}

// SequentialIDs returns an id generator that gives "1", "2", "3", ... It is
// safe for concurrent use.
func SequentialIDs() func() string {
	var n atomic.Int64
	return func() string { return strconv.FormatInt(n.Add(1), 10) }
}
