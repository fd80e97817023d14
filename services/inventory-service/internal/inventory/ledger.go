package inventory

import (
	"errors"
	"fmt"
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
}

// Outcome is what applying one reservation did.
type Outcome struct {
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
	l.products[id] = &p
}

// Apply applies r to its product with the tutorial's rule, unless the
// product does not exist. It applies what it is given: a line that must
// not be applied twice is kept out by the caller (see Orders).
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
	t := l.policy.Take(p.Stock, r.Quantity)
	p.Stock = t.Level
	p.Lines++
	if t.Refilled {
		p.Refills++
	}
	return Outcome{Taken: t}, nil
}

// Product returns the state of product id, and false if the ledger does not
// hold it.
func (l *Ledger) Product(id string) (Product, bool) {
	if p, ok := l.products[id]; ok {
		return *p, true
	}
	level, ok := l.initial[id]
	return Product{Stock: level}, ok
}
