package inventory

import (
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
)

// ErrUnknownProduct is returned by Stock.Take for a product the stock does
// not hold.
var ErrUnknownProduct = errors.New("unknown product")

// Policy is the refill rule: a product whose stock falls to Threshold or
// below is reported empty and refilled to RefillLevel.
type Policy struct {
	Threshold   int
	RefillLevel int
}

// Validate reports whether p can work: a refill must lift the stock above
// the threshold, or every order would find the product empty again.
func (p Policy) Validate() error {
	var errs []error
	if p.Threshold < 0 {
		errs = append(errs, fmt.Errorf("threshold must not be negative, got %d", p.Threshold))
	}
	if p.RefillLevel <= p.Threshold {
		errs = append(errs, fmt.Errorf("refill level %d must be greater than the threshold %d", p.RefillLevel, p.Threshold))
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

// Stock holds the number of items in stock per product, in memory. The set
// of products is fixed when the Stock is made. It is safe for concurrent use.
type Stock struct {
	policy Policy

	// One lock for all products keeps Levels a consistent snapshot; a
	// line is applied in microseconds, so finer locking would buy nothing.
	mu     sync.Mutex
	levels map[string]int
}

// NewStock returns a Stock holding levels (product id -> items) and applying
// policy. Product ids must not be blank and levels must not be negative.
func NewStock(levels map[string]int, policy Policy) (*Stock, error) {
	errs := []error{policy.Validate()}
	if len(levels) == 0 {
		errs = append(errs, errors.New("at least one product is required"))
	}
	for id, n := range levels {
		if strings.TrimSpace(id) == "" {
			errs = append(errs, fmt.Errorf("product id %q is blank", id))
		}
		if n < 0 {
			errs = append(errs, fmt.Errorf("stock of %s must not be negative, got %d", id, n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("new stock: %w", err)
	}
	return &Stock{policy: policy, levels: maps.Clone(levels)}, nil
}

// Take removes quantity items of productID and, if that leaves the stock at
// or below the threshold, refills it, all as one step: concurrent callers
// never see or overwrite the stock between the decrement and the refill.
// It returns ErrUnknownProduct, changing nothing, for a product the stock
// does not hold.
func (s *Stock) Take(productID string, quantity int) (Taken, error) {
	if quantity < 1 {
		return Taken{}, fmt.Errorf("take %d of %s: quantity must be positive", quantity, productID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	level, ok := s.levels[productID]
	if !ok {
		return Taken{}, fmt.Errorf("take %d of %s: %w", quantity, productID, ErrUnknownProduct)
	}
	t := Taken{Left: level - quantity}
	t.Level = t.Left
	if t.Left <= s.policy.Threshold {
		t.Refilled = true
		t.Level = s.policy.RefillLevel
	}
	s.levels[productID] = t.Level
	return t, nil
}

// Levels returns a snapshot of the stock: product id -> items.
func (s *Stock) Levels() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.levels)
}
