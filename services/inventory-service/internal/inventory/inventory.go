// Package inventory keeps the stock of each product and applies order lines
// to it with the tutorial's rule. For each line of an order, in order:
//
//  1. take the line's quantity from the product's stock and record the
//     logging action inventory-updated;
//  2. if that leaves the stock at or below the threshold (100 by default),
//     record an inventory-empty event for the product and the logging action
//     inventory-empty, then refill the product to the refill level (109).
//
// A line for a product the stock does not hold changes nothing; it is
// recorded as the logging action inventory-unknown-product.
//
// # One owner per product, each order once
//
// An order is split into one Reservation per line (Split). Each product has
// one owner at a time, which keeps the product's state in a Ledger and
// applies its reservations in the order they come. The same order placed
// again, as another record with the same orderId, makes the same
// reservations, and they go to the same owners wherever the order itself
// was read: Orders, kept beside the Ledger, remembers which order applied
// lines to which product, for a window of time and within a size, and
// keeps the repeat out.
//
// The package knows nothing of Kafka: the inventory-service's pipeline
// package moves reservations and state through topics.
package inventory

import (
	"errors"
	"fmt"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// Policy is the refill rule: a product whose stock falls to Threshold or
// below is reported empty and refilled to RefillLevel.
type Policy struct {
	Threshold   int
	RefillLevel int
}

// ErrThreshold and ErrRefillLevel mark which field of a Policy an error
// from Validate is about, so that a caller can name its own setting for it.
var (
	ErrThreshold   = errors.New("threshold")
	ErrRefillLevel = errors.New("refill level")
)

// Validate reports whether p can work: a refill must lift the stock above
// the threshold, or every order would find the product empty again.
func (p Policy) Validate() error {
	var errs []error
	if p.Threshold < 0 {
		errs = append(errs, fmt.Errorf("%w must not be negative, got %d", ErrThreshold, p.Threshold))
	}
	if p.RefillLevel <= p.Threshold {
		errs = append(errs, fmt.Errorf("%w %d must be greater than the threshold %d", ErrRefillLevel, p.RefillLevel, p.Threshold))
	}
	return errors.Join(errs...)
}

// Taken is the outcome of taking items from the stock of one product.
type Taken struct {
	// Left is the stock right after the items were taken, before any refill.
	// It may be negative: like the tutorial, the stock never refuses an
	// order, it only refills.
	Left int
	// Refilled reports that Left was at or below the threshold, so the
	// product was reported empty and refilled.
	Refilled bool
	// Level is the stock now: Left, or the refill level after a refill.
	Level int
}

// Take applies the rule to a product with stock level from which quantity
// items are taken.
func (p Policy) Take(level, quantity int) Taken {
	t := Taken{Left: level - quantity}
	t.Level = t.Left
	if t.Left <= p.Threshold {
		t.Refilled = true
		t.Level = p.RefillLevel
	}
	return t
}

// Source is where an order was read: its partition and offset on the order
// topic. It identifies the order record, so it tells a record delivered
// again from a new one.
type Source struct {
	Partition int32
	Offset    int64
}

// Reservation is one line of an order, to be applied to one product.
type Reservation struct {
	OrderID string
	// Line is the line's index in the order's product list.
	Line      int
	ProductID string
	Quantity  int
	Source    Source
}

// Split returns the reservations of a valid order read at src, one per
// line, in the order's order. An invalid order gives an error that wraps
// contracts.ErrInvalid.
func Split(order contracts.Order, src Source) ([]Reservation, error) {
	if err := order.Validate(); err != nil {
		return nil, fmt.Errorf("split order: %w", err)
	}
	rs := make([]Reservation, len(order.Products))
	for i, line := range order.Products {
		rs[i] = Reservation{OrderID: order.OrderID, Line: i, ProductID: line.ProductID, Quantity: line.Quantity, Source: src}
	}
	return rs, nil
}

// Events returns the events of an applied reservation in the tutorial's
// order.
func (o Outcome) Events(productID string) []contracts.Event {
	switch {
	case o.Unknown:
		return []contracts.Event{loggingAction(contracts.ActionInventoryUnknownProduct)}
	case o.Taken.Refilled:
		return []contracts.Event{
			loggingAction(contracts.ActionInventoryUpdated),
			contracts.InventoryEmpty{ProductID: productID},
			loggingAction(contracts.ActionInventoryEmpty),
		}
	}
	return []contracts.Event{loggingAction(contracts.ActionInventoryUpdated)}
}

func loggingAction(action string) contracts.LoggingAction {
	return contracts.LoggingAction{ServiceName: contracts.ServiceInventory, Action: action}
}
