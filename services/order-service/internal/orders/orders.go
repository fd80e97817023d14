// Package orders is the order service's business logic: placing an order
// announces it on new-order-topic and records a new-order action on
// new-logging-action-topic, whether the order came over HTTP or from the
// simulator that repeats the tutorial's sample order.
//
// The package knows nothing of Kafka. It publishes through the Publisher
// interface it declares, which *eventbus.Publisher satisfies.
package orders

import (
	"context"
	"fmt"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/logging"
)

// Publisher is what the service publishes an order's events through.
type Publisher interface {
	// Publish publishes events as one batch, returning once all of them are
	// acknowledged or with the first failure.
	Publish(ctx context.Context, events ...contracts.Event) error
}

// Source says where an order came from, for the log and the count of
// orders placed.
type Source string

// The sources of orders.
const (
	SourceHTTP      Source = "http"
	SourceSimulator Source = "simulator"
)

// orderIDPrefix starts every generated order id, so that generated ids read
// like the tutorial's "ORDER-123".
const orderIDPrefix = "ORDER-"

// Service places orders.
type Service struct {
	publisher      Publisher
	newID          func() string
	publishTimeout time.Duration
	log            *zap.Logger

	mu     sync.Mutex
	placed map[Source]int
}

// NewService returns a Service that publishes through publisher, waiting at
// most publishTimeout for each order to be acknowledged. newID must return a
// fresh unique string on every call (eventbus.NewID, a UUID, in production);
// NewOrderID builds order ids from it.
func NewService(publisher Publisher, newID func() string, publishTimeout time.Duration, log *zap.Logger) *Service {
	return &Service{publisher: publisher, newID: newID, publishTimeout: publishTimeout, log: log,
		placed: make(map[Source]int)}
}

// Placed returns how many orders from source the Service has placed since
// it started: published and acknowledged.
func (s *Service) Placed(source Source) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.placed[source]
}

// NewOrderID returns a fresh order id: "ORDER-" followed by a new id from the
// Service's generator, such as ORDER-0b7e5c1e-4f7a-4d0e-9a51-2f5b1c8d9e10.
func (s *Service) NewOrderID() string { return orderIDPrefix + s.newID() }

// Place publishes order to new-order-topic together with the order service's
// new-order logging action, in one batch, so that both are acknowledged or
// the call fails. It gives up after the publish timeout, or when ctx ends.
//
// An order that breaks the contract is refused with an error wrapping
// contracts.ErrInvalid, and nothing is published.
func (s *Service) Place(ctx context.Context, order contracts.Order, source Source) error {
	if err := order.Validate(); err != nil {
		return fmt.Errorf("place order: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.publishTimeout)
	defer cancel()
	action := contracts.LoggingAction{ServiceName: contracts.ServiceOrder, Action: contracts.ActionNewOrder}
	if err := s.publisher.Publish(ctx, order, action); err != nil {
		return fmt.Errorf("place order %s: %w", order.OrderID, err)
	}
	s.mu.Lock()
	s.placed[source]++
	s.mu.Unlock()
	s.log.Info("order placed",
		zap.String("order_id", order.OrderID),
		zap.String("customer_id", order.CustomerID),
		zap.Int("lines", len(order.Products)),
		zap.String("source", string(source)),
		logging.Trace(ctx))
	return nil
}
