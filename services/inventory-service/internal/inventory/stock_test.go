package inventory_test

import (
	"errors"
	"maps"
	"strings"
	"sync"
	"testing"

	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// tutorialPolicy is the tutorial's rule: refill to 109 at 100 or below.
var tutorialPolicy = inventory.Policy{Threshold: 100, RefillLevel: 109}

// tutorialLevels returns the tutorial's stock at start.
func tutorialLevels() map[string]int {
	return map[string]int{"PRODUCT-123": 109, "PRODUCT-321": 109}
}

func newStock(t *testing.T, levels map[string]int, policy inventory.Policy) *inventory.Stock {
	t.Helper()
	stock, err := inventory.NewStock(levels, policy)
	if err != nil {
		t.Fatalf("NewStock: %v", err)
	}
	return stock
}

func TestNewStockRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		levels map[string]int
		policy inventory.Policy
		want   string
	}{
		{name: "no products", levels: map[string]int{}, policy: tutorialPolicy, want: "at least one product is required"},
		{name: "blank product id", levels: map[string]int{" ": 1}, policy: tutorialPolicy, want: `product id " " is blank`},
		{name: "negative stock", levels: map[string]int{"P": -1}, policy: tutorialPolicy, want: "stock of P must not be negative, got -1"},
		{name: "negative threshold", levels: map[string]int{"P": 1}, policy: inventory.Policy{Threshold: -1, RefillLevel: 5}, want: "threshold must not be negative, got -1"},
		{name: "refill level equal to the threshold", levels: map[string]int{"P": 1}, policy: inventory.Policy{Threshold: 100, RefillLevel: 100}, want: "refill level 100 must be greater than the threshold 100"},
		{name: "refill level below the threshold", levels: map[string]int{"P": 1}, policy: inventory.Policy{Threshold: 100, RefillLevel: 50}, want: "refill level 50 must be greater than the threshold 100"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stock, err := inventory.NewStock(tt.levels, tt.policy)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewStock = %v, %v; want an error containing %q", stock, err, tt.want)
			}
		})
	}
}

func TestTake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		start    int
		quantity int
		want     inventory.Taken
	}{
		{name: "above the threshold", start: 109, quantity: 3, want: inventory.Taken{Left: 106, Level: 106}},
		{name: "one above the threshold", start: 104, quantity: 3, want: inventory.Taken{Left: 101, Level: 101}},
		{name: "exactly at the threshold refills", start: 103, quantity: 3, want: inventory.Taken{Left: 100, Refilled: true, Level: 109}},
		{name: "below the threshold refills", start: 101, quantity: 5, want: inventory.Taken{Left: 96, Refilled: true, Level: 109}},
		{name: "more than in stock refills, as in the tutorial", start: 109, quantity: 500, want: inventory.Taken{Left: -391, Refilled: true, Level: 109}},
		{name: "starting below the threshold refills on the first line", start: 20, quantity: 1, want: inventory.Taken{Left: 19, Refilled: true, Level: 109}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stock := newStock(t, map[string]int{"P": tt.start, "OTHER": 7}, tutorialPolicy)
			got, err := stock.Take("P", tt.quantity)
			if err != nil {
				t.Fatalf("Take: %v", err)
			}
			if got != tt.want {
				t.Errorf("Take = %+v, want %+v", got, tt.want)
			}
			want := map[string]int{"P": tt.want.Level, "OTHER": 7}
			if levels := stock.Levels(); !maps.Equal(levels, want) {
				t.Errorf("Levels = %v, want %v", levels, want)
			}
		})
	}
}

func TestTakeRefusesWithoutChange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		productID string
		quantity  int
		unknown   bool
	}{
		{name: "unknown product", productID: "PRODUCT-999", quantity: 1, unknown: true},
		{name: "zero quantity", productID: "PRODUCT-123", quantity: 0},
		{name: "negative quantity", productID: "PRODUCT-123", quantity: -3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stock := newStock(t, tutorialLevels(), tutorialPolicy)
			_, err := stock.Take(tt.productID, tt.quantity)
			if err == nil {
				t.Fatal("Take succeeded")
			}
			if got := errors.Is(err, inventory.ErrUnknownProduct); got != tt.unknown {
				t.Errorf("errors.Is(%v, ErrUnknownProduct) = %t, want %t", err, got, tt.unknown)
			}
			if levels := stock.Levels(); !maps.Equal(levels, tutorialLevels()) {
				t.Errorf("Levels = %v, want them unchanged", levels)
			}
		})
	}
}

func TestStockKeepsItsOwnCopies(t *testing.T) {
	t.Parallel()
	levels := tutorialLevels()
	stock := newStock(t, levels, tutorialPolicy)
	levels["PRODUCT-123"] = 1
	snapshot := stock.Levels()
	snapshot["PRODUCT-321"] = 1
	if got := stock.Levels(); !maps.Equal(got, tutorialLevels()) {
		t.Errorf("after changing the maps given and returned, Levels = %v", got)
	}
}

// TestTakeIsAtomicPerProduct takes from the same products on many goroutines
// at once. All lines of one product have the same quantity, so whatever the
// interleaving, a stock that applies each line as one step passes through
// the same levels as one applying them in turn: the final level and the
// number of refills are exact. A lost update or a refill that another line
// slipped into would change them.
func TestTakeIsAtomicPerProduct(t *testing.T) {
	t.Parallel()
	const goroutines, linesEach = 32, 500 // 16000 lines per product
	tests := []struct {
		productID   string
		quantity    int
		wantLevel   int
		wantRefills int
	}{
		// 109 -> 106 -> 103 -> 100, refilled on every 3rd line: 5333
		// refills take 15999 lines, and the last line leaves 106.
		{productID: "PRODUCT-123", quantity: 3, wantLevel: 106, wantRefills: 5333},
		// Refilled on every 9th line: 1777 refills take 15993 lines, and
		// the last 7 leave 102.
		{productID: "PRODUCT-321", quantity: 1, wantLevel: 102, wantRefills: 1777},
	}
	stock := newStock(t, tutorialLevels(), tutorialPolicy)

	var (
		mu      sync.Mutex
		refills = map[string]int{}
		wg      sync.WaitGroup
	)
	for range goroutines {
		wg.Go(func() {
			mine := map[string]int{}
			for range linesEach {
				for _, tt := range tests {
					taken, err := stock.Take(tt.productID, tt.quantity)
					if err != nil {
						t.Errorf("Take: %v", err)
						return
					}
					if taken.Refilled {
						mine[tt.productID]++
					}
				}
			}
			mu.Lock()
			defer mu.Unlock()
			for id, n := range mine {
				refills[id] += n
			}
		})
	}
	wg.Wait()

	levels := stock.Levels()
	for _, tt := range tests {
		if levels[tt.productID] != tt.wantLevel {
			t.Errorf("%s: final stock %d, want %d", tt.productID, levels[tt.productID], tt.wantLevel)
		}
		if refills[tt.productID] != tt.wantRefills {
			t.Errorf("%s: %d refills, want %d", tt.productID, refills[tt.productID], tt.wantRefills)
		}
	}
}
