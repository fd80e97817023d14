// Package inventory keeps the stock of each product and applies orders to it
// with the tutorial's rule. For each line of an order, in order:
//
//  1. take the line's quantity from the product's stock and record the
//     logging action inventory-updated;
//  2. if that leaves the stock at or below the threshold (100 by default),
//     record an inventory-empty event for the product and the logging action
//     inventory-empty, then refill the product to the refill level (109).
//
// A line for a product the stock does not hold changes nothing; it is logged
// as a warning and recorded as the logging action inventory-unknown-product,
// and the order's other lines are still applied.
//
// # Publishing and duplicates
//
// The tutorial publishes after each step. Service.ApplyOrder instead applies
// every line first and then publishes all of the order's events, in the
// tutorial's order, in one batch. Once the stock has changed, a failed
// publish is retried right there, with backoff, rather than by handing the
// order back to the consumer: a redelivered order would be taken from the
// stock again. Only when the context ends first (the service stops while
// Kafka is away) does ApplyOrder give up with an error, and then the order's
// offset is not committed: the next owner of its partition applies it again.
// The same happens when an order is redelivered after a crash or rebalance
// that came before its offset was committed. Applying each line exactly once
// needs state that survives the process and moves with the partitions (one
// owner per product, its stock in a compacted changelog topic); that design,
// planned, also fixes the other limit of this package: the stock lives in one
// process's memory, so every instance of the service counts its own.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// Publisher publishes events as one batch and reports whether all of them
// were acknowledged, as *eventbus.Publisher does. A failed batch may still
// have been partly written, so retrying it can repeat some of its events:
// consumers of inventory events see them at least once.
type Publisher interface {
	Publish(ctx context.Context, events ...contracts.Event) error
}

// maxRetryBackoff caps the wait between two attempts to publish an order's
// events.
const maxRetryBackoff = 5 * time.Second

// Service applies orders to a Stock and publishes what happened.
type Service struct {
	stock        *Stock
	events       Publisher
	log          *zap.Logger
	retryBackoff time.Duration
}

// NewService returns a Service applying orders to stock and publishing the
// resulting events through events.
func NewService(stock *Stock, events Publisher, log *zap.Logger) *Service {
	return &Service{stock: stock, events: events, log: log, retryBackoff: 100 * time.Millisecond}
}

// ApplyOrder applies each line of order to the stock with the tutorial's
// rule, then publishes the resulting events in one batch, retrying until
// they are acknowledged or ctx ends. An invalid order changes nothing and the
// error wraps contracts.ErrInvalid. See the package documentation for what a
// publish abandoned at shutdown means on redelivery.
func (s *Service) ApplyOrder(ctx context.Context, order contracts.Order) error {
	if err := order.Validate(); err != nil {
		return fmt.Errorf("apply order: %w", err)
	}
	log := s.log.With(zap.String("order_id", order.OrderID))
	var events []contracts.Event
	for _, line := range order.Products {
		lineEvents, err := s.applyLine(log, line)
		if err != nil {
			return fmt.Errorf("apply order %s: %w", order.OrderID, err)
		}
		events = append(events, lineEvents...)
	}
	if err := s.publish(ctx, log, events); err != nil {
		return fmt.Errorf("apply order %s: publish %d events: %w", order.OrderID, len(events), err)
	}
	return nil
}

// publish publishes events, retrying with capped exponential backoff until
// they are acknowledged or ctx ends.
func (s *Service) publish(ctx context.Context, log *zap.Logger, events []contracts.Event) error {
	wait := s.retryBackoff
	for {
		err := s.events.Publish(ctx, events...)
		if err == nil {
			return nil
		}
		log.Warn("publishing the order's events failed, retrying", zap.Duration("backoff", wait), zap.Error(err))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
		case <-t.C:
		}
		wait = min(2*wait, maxRetryBackoff)
	}
}

// applyLine applies one order line and returns its events in the tutorial's
// order.
func (s *Service) applyLine(log *zap.Logger, line contracts.OrderLine) ([]contracts.Event, error) {
	log = log.With(zap.String("product_id", line.ProductID))
	taken, err := s.stock.Take(line.ProductID, line.Quantity)
	if errors.Is(err, ErrUnknownProduct) {
		log.Warn("unknown product, order line not applied", zap.Int("quantity", line.Quantity))
		return []contracts.Event{loggingAction(contracts.ActionInventoryUnknownProduct)}, nil
	}
	if err != nil {
		return nil, err
	}

	log.Info("inventory updated", zap.Int("quantity", line.Quantity), zap.Int("stock", taken.Left))
	events := []contracts.Event{loggingAction(contracts.ActionInventoryUpdated)}
	if taken.Refilled {
		log.Info("inventory empty, product refilled", zap.Int("stock_before", taken.Left), zap.Int("stock", taken.Level))
		events = append(events,
			contracts.InventoryEmpty{ProductID: line.ProductID},
			loggingAction(contracts.ActionInventoryEmpty),
		)
	}
	return events, nil
}

func loggingAction(action string) contracts.LoggingAction {
	return contracts.LoggingAction{ServiceName: contracts.ServiceInventory, Action: action}
}
