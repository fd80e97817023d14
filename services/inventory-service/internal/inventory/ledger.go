package inventory

import (
	"errors"
	"fmt"
	"maps"
	"strings"
)

// Product is the state of one product's stock, as its owner keeps it and as
// its changelog record carries it.
type Product struct {
	// Stock is the number of items in stock.
	Stock int `json:"stock"`
	// Lines counts the order lines applied to the product.
	Lines int `json:"lines"`
	// Refills counts the times the product was reported empty and refilled.
	Refills int `json:"refills"`
	// Applied maps an order partition to the last order line read from it
	// that was applied to the product.
	Applied map[int32]Mark `json:"applied,omitempty"`
}

// Mark is the position of an order line: the order's offset on its
// partition, and the line's index in the order.
type Mark struct {
	Offset int64 `json:"offset"`
	Line   int   `json:"line"`
}

// after reports whether m comes after o.
func (m Mark) after(o Mark) bool {
	return m.Offset > o.Offset || m.Offset == o.Offset && m.Line > o.Line
}

// Outcome is what applying one reservation did.
type Outcome struct {
	// Duplicate reports a reservation from an order record already applied
	// to the product; nothing changed.
	Duplicate bool
	// Unknown reports a product the ledger does not hold; nothing changed.
	Unknown bool
	// Taken is the change to the stock, when there was one.
	Taken Taken
}

// Ledger holds the state of the products one owner applies reservations to.
// It is not safe for concurrent use: each owner has its own.
type Ledger struct {
	policy   Policy
	initial  map[string]int
	products map[string]*Product
}

// NewLedger returns a ledger for the products in initial (product id ->
// items at start), applying policy. A product's state starts from initial
// until Restore or Apply sets it.
func NewLedger(initial map[string]int, policy Policy) (*Ledger, error) {
	if err := ValidateStock(initial, policy); err != nil {
		return nil, err
	}
	return &Ledger{policy: policy, initial: initial, products: make(map[string]*Product)}, nil
}

// ValidateStock reports every problem with a stock at start: at least one
// product, no blank ids, no negative levels, and a policy that works.
func ValidateStock(initial map[string]int, policy Policy) error {
	errs := []error{policy.Validate()}
	if len(initial) == 0 {
		errs = append(errs, errors.New("at least one product is required"))
	}
	for id, n := range initial {
		if strings.TrimSpace(id) == "" {
			errs = append(errs, fmt.Errorf("product id %q is blank", id))
		}
		if n < 0 {
			errs = append(errs, fmt.Errorf("stock of %s must not be negative, got %d", id, n))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stock: %w", err)
	}
	return nil
}

// Restore sets the state of product id as its changelog recorded it.
func (l *Ledger) Restore(id string, p Product) {
	p.Applied = maps.Clone(p.Applied)
	l.products[id] = &p
}

// Apply applies r to its product with the tutorial's rule, unless the
// product does not exist or r's order record was applied to it already.
func (l *Ledger) Apply(r Reservation) (Outcome, error) {
	if r.Quantity < 1 {
		return Outcome{}, fmt.Errorf("apply %s line %d: quantity must be positive, got %d", r.OrderID, r.Line, r.Quantity)
	}
	p, ok := l.products[r.ProductID]
	if !ok {
		level, known := l.initial[r.ProductID]
		if !known {
			return Outcome{Unknown: true}, nil
		}
		p = &Product{Stock: level}
		l.products[r.ProductID] = p
	}
	mark := Mark{Offset: r.Source.Offset, Line: r.Line}
	if last, seen := p.Applied[r.Source.Partition]; seen && !mark.after(last) {
		return Outcome{Duplicate: true}, nil
	}
	t := l.policy.Take(p.Stock, r.Quantity)
	p.Stock = t.Level
	p.Lines++
	if t.Refilled {
		p.Refills++
	}
	if p.Applied == nil {
		p.Applied = make(map[int32]Mark)
	}
	p.Applied[r.Source.Partition] = mark
	return Outcome{Taken: t}, nil
}

// Product returns the state of product id, and false if the ledger does not
// hold it.
func (l *Ledger) Product(id string) (Product, bool) {
	if p, ok := l.products[id]; ok {
		q := *p
		q.Applied = maps.Clone(p.Applied)
		return q, true
	}
	level, ok := l.initial[id]
	return Product{Stock: level}, ok
}
