package main

import (
	"testing"

	"github.com/eventshop/eventshop/pkg/contracts"
)

func TestTutorialRuleExpect(t *testing.T) {
	t.Parallel()
	samples := func(n int) []contracts.Order {
		orders := make([]contracts.Order, n)
		for i := range orders {
			orders[i] = contracts.SampleOrder()
		}
		return orders
	}
	line := func(product string, quantity int) contracts.Order {
		return contracts.Order{OrderID: "O", CustomerID: "C", Products: []contracts.OrderLine{{ProductID: product, Quantity: quantity}}}
	}
	tests := []struct {
		name   string
		orders []contracts.Order
		want   inventoryEvents
	}{
		{"no orders", nil, inventoryEvents{}},
		{"two samples leave PRODUCT-123 at 103", samples(2), inventoryEvents{updated: 4}},
		// README: the third order takes PRODUCT-123 to 100.
		{"the third sample empties PRODUCT-123", samples(3), inventoryEvents{updated: 6, refills: 1, empties: 1}},
		// README: the ninth does it for PRODUCT-321 (and PRODUCT-123 a third time).
		{"the ninth sample empties PRODUCT-321", samples(9), inventoryEvents{updated: 18, refills: 4, empties: 4}},
		// 20000/3 = 6666 refills of PRODUCT-123, 20000/9 = 2222 of PRODUCT-321.
		{"the default drain", samples(20000), inventoryEvents{updated: 40000, refills: 8888, empties: 8888}},
		{"a line past the threshold refills once", []contracts.Order{line("P", 50)}, inventoryEvents{updated: 1, refills: 1, empties: 1}},
		{"exactly the threshold is empty", []contracts.Order{line("P", 9)}, inventoryEvents{updated: 1, refills: 1, empties: 1}},
		{"one above the threshold is not", []contracts.Order{line("P", 8)}, inventoryEvents{updated: 1}},
		{"a refill starts from the refill level", []contracts.Order{line("P", 9), line("P", 8), line("P", 1)},
			inventoryEvents{updated: 3, refills: 2, empties: 2}},
		{"products keep their own stock", []contracts.Order{line("P", 8), line("Q", 8)}, inventoryEvents{updated: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tutorialRule.expect(tt.orders); got != tt.want {
				t.Errorf("expect = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestInventoryEventsCovers(t *testing.T) {
	t.Parallel()
	want := inventoryEvents{updated: 4, refills: 1, empties: 1}
	tests := []struct {
		name string
		got  inventoryEvents
		ok   bool
	}{
		{"exactly", want, true},
		{"duplicates on top", inventoryEvents{updated: 5, refills: 2, empties: 1}, true},
		{"an update missing", inventoryEvents{updated: 3, refills: 1, empties: 1}, false},
		{"a refill action missing", inventoryEvents{updated: 4, empties: 1}, false},
		{"the inventory-empty record missing", inventoryEvents{updated: 4, refills: 1}, false},
	}
	for _, tt := range tests {
		if ok := tt.got.covers(want); ok != tt.ok {
			t.Errorf("%s: %+v covers %+v = %v, want %v", tt.name, tt.got, want, ok, tt.ok)
		}
	}
	if n := want.actions(); n != 5 {
		t.Errorf("actions() = %d, want 5", n)
	}
}
