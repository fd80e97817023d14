package main

import "github.com/eventshop/eventshop/pkg/contracts"

// stockRule is the tutorial's inventory rule as inventory-service applies it
// by default. The harness runs it itself, on the workload, to know how many
// events the service must publish.
type stockRule struct {
	// initial is every product's stock at start.
	initial int
	// threshold: a line leaving a product at or below it makes the product
	// empty, and it is refilled to refillTo.
	threshold int
	refillTo  int
}

// tutorialRule is inventory-service's default: 109 items, refilled to 109
// once at or below 100.
var tutorialRule = stockRule{initial: 109, threshold: 100, refillTo: 109}

// inventoryEvents counts what inventory-service publishes for a workload.
type inventoryEvents struct {
	// updated counts the logging actions inventory-updated: one per line.
	updated int
	// refills counts the logging actions inventory-empty: one per refill.
	refills int
	// empties counts the records on inventory-empty-topic: one per refill.
	empties int
}

// actions is the number of logging actions the inventory publishes.
func (e inventoryEvents) actions() int { return e.updated + e.refills }

// covers reports whether e has at least as many events of each kind as want.
func (e inventoryEvents) covers(want inventoryEvents) bool {
	return e.updated >= want.updated && e.refills >= want.refills && e.empties >= want.empties
}

// expect applies orders, in turn, to a fresh stock holding every product
// they name, and counts the events the rule causes. When the orders are all
// alike, as the benchmarks' are, the counts do not depend on the order in
// which the service applies them.
func (r stockRule) expect(orders []contracts.Order) inventoryEvents {
	stock := map[string]int{}
	var e inventoryEvents
	for _, o := range orders {
		for _, line := range o.Products {
			left, ok := stock[line.ProductID]
			if !ok {
				left = r.initial
			}
			left -= line.Quantity
			e.updated++
			if left <= r.threshold {
				e.refills++
				e.empties++
				left = r.refillTo
			}
			stock[line.ProductID] = left
		}
	}
	return e
}
