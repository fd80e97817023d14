package inventory_test

import (
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var (
	updated        = contracts.LoggingAction{ServiceName: "inventory-service", Action: "inventory-updated"}
	emptied        = contracts.LoggingAction{ServiceName: "inventory-service", Action: "inventory-empty"}
	unknownProduct = contracts.LoggingAction{ServiceName: "inventory-service", Action: "inventory-unknown-product"}

	tutorialPolicy = inventory.Policy{Threshold: 100, RefillLevel: 109}
)

func tutorialLevels() map[string]int { return map[string]int{"PRODUCT-123": 109, "PRODUCT-321": 109} }

func newLedger(t *testing.T, levels map[string]int) *inventory.Ledger {
	t.Helper()
	l, err := inventory.NewLedger(levels, tutorialPolicy)
	if err != nil {
		t.Fatalf("NewLedger: %v", err)
	}
	return l
}

// applyOrder splits order, read at src, and applies its lines to l in
// order, as the owners of its products would: it returns the events of all
// lines in order.
func applyOrder(t *testing.T, l *inventory.Ledger, order contracts.Order, src inventory.Source) []contracts.Event {
	t.Helper()
	rs, err := inventory.Split(order, src)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	var events []contracts.Event
	for _, r := range rs {
		o, err := l.Apply(r)
		if err != nil {
			t.Fatalf("Apply %+v: %v", r, err)
		}
		events = append(events, o.Events(r.ProductID)...)
	}
	return events
}

func levels(l *inventory.Ledger, ids ...string) map[string]int {
	m := make(map[string]int, len(ids))
	for _, id := range ids {
		p, _ := l.Product(id)
		m[id] = p.Stock
	}
	return m
}

// TestTutorialSequence places the tutorial's sample order (PRODUCT-123 x3,
// PRODUCT-321 x1) nine times against the tutorial's stock and compares the
// events of each order, and the stock after it, with
// testdata/tutorial-sequence.golden.
func TestTutorialSequence(t *testing.T) {
	t.Parallel()
	ledger := newLedger(t, tutorialLevels())

	// The tutorial's milestones, checked here as well so that a carelessly
	// regenerated golden file cannot hide a change in them: PRODUCT-123
	// reaches 100 on every third order, PRODUCT-321 on the ninth.
	wantEmptied := map[int][]string{3: {"PRODUCT-123"}, 6: {"PRODUCT-123"}, 9: {"PRODUCT-123", "PRODUCT-321"}}

	var got strings.Builder
	for n := 1; n <= 9; n++ {
		events := applyOrder(t, ledger, contracts.SampleOrder(), inventory.Source{Offset: int64(n)})
		var emptiedIDs []string
		fmt.Fprintf(&got, "order %d\n", n)
		for _, e := range events {
			body, err := contracts.Encode(e)
			if err != nil {
				t.Fatalf("order %d: encode %#v: %v", n, e, err)
			}
			fmt.Fprintf(&got, "  publish %-24s key %-17s %s\n", e.Topic(), e.Key(), body)
			if empty, ok := e.(contracts.InventoryEmpty); ok {
				emptiedIDs = append(emptiedIDs, empty.ProductID)
			}
		}
		fmt.Fprintf(&got, "  stock %s\n", formatLevels(levels(ledger, "PRODUCT-123", "PRODUCT-321")))
		if !slices.Equal(emptiedIDs, wantEmptied[n]) {
			t.Errorf("order %d emptied %q, want %q", n, emptiedIDs, wantEmptied[n])
		}
	}
	checkGolden(t, "tutorial-sequence.golden", got.String())
}

func formatLevels(levels map[string]int) string {
	var parts []string
	for _, id := range slices.Sorted(maps.Keys(levels)) {
		parts = append(parts, fmt.Sprintf("%s=%d", id, levels[id]))
	}
	return strings.Join(parts, " ")
}

func checkGolden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test -update rewrites it)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestApplyOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		levels     map[string]int
		lines      []contracts.OrderLine
		want       []contracts.Event
		wantLevels map[string]int
	}{
		{
			name:       "lines update in order",
			levels:     tutorialLevels(),
			lines:      contracts.SampleOrder().Products,
			want:       []contracts.Event{updated, updated},
			wantLevels: map[string]int{"PRODUCT-123": 106, "PRODUCT-321": 108},
		},
		{
			name:   "refill comes after the line's update, before the next line",
			levels: map[string]int{"PRODUCT-123": 103, "PRODUCT-321": 101},
			lines:  contracts.SampleOrder().Products,
			want: []contracts.Event{
				updated, contracts.InventoryEmpty{ProductID: "PRODUCT-123"}, emptied,
				updated, contracts.InventoryEmpty{ProductID: "PRODUCT-321"}, emptied,
			},
			wantLevels: map[string]int{"PRODUCT-123": 109, "PRODUCT-321": 109},
		},
		{
			name:   "a product twice in one order is taken twice",
			levels: map[string]int{"PRODUCT-123": 106},
			lines: []contracts.OrderLine{
				{ProductID: "PRODUCT-123", Quantity: 3, TotalPrice: 80},
				{ProductID: "PRODUCT-123", Quantity: 3, TotalPrice: 80},
			},
			want:       []contracts.Event{updated, updated, contracts.InventoryEmpty{ProductID: "PRODUCT-123"}, emptied},
			wantLevels: map[string]int{"PRODUCT-123": 109},
		},
		{
			name:   "unknown product is skipped, the other lines applied",
			levels: tutorialLevels(),
			lines: []contracts.OrderLine{
				{ProductID: "PRODUCT-123", Quantity: 3, TotalPrice: 80},
				{ProductID: "PRODUCT-999", Quantity: 2, TotalPrice: 10},
				{ProductID: "PRODUCT-321", Quantity: 1, TotalPrice: 233},
			},
			want:       []contracts.Event{updated, unknownProduct, updated},
			wantLevels: map[string]int{"PRODUCT-123": 106, "PRODUCT-321": 108},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ledger := newLedger(t, tt.levels)
			order := contracts.Order{OrderID: "O-1", CustomerID: "C-1", Products: tt.lines}
			if got := applyOrder(t, ledger, order, inventory.Source{Partition: 2, Offset: 7}); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("events %v, want %v", got, tt.want)
			}
			if got := levels(ledger, slices.Collect(maps.Keys(tt.wantLevels))...); !maps.Equal(got, tt.wantLevels) {
				t.Errorf("levels %v, want %v", got, tt.wantLevels)
			}
		})
	}
}

func TestSplitRejectsInvalidOrder(t *testing.T) {
	t.Parallel()
	order := contracts.SampleOrder()
	order.Products[1].Quantity = 0
	if rs, err := inventory.Split(order, inventory.Source{}); !errors.Is(err, contracts.ErrInvalid) || rs != nil {
		t.Fatalf("Split = %v, %v; want no reservations and an error wrapping contracts.ErrInvalid", rs, err)
	}
}

// TestRestoreCarriesState checks that a new owner restored from a product's
// state goes on from it.
func TestRestoreCarriesState(t *testing.T) {
	t.Parallel()
	old := newLedger(t, tutorialLevels())
	applyOrder(t, old, contracts.SampleOrder(), inventory.Source{Partition: 4, Offset: 40})
	state, _ := old.Product("PRODUCT-123")

	next := newLedger(t, tutorialLevels())
	next.Restore("PRODUCT-123", state)
	applyOrder(t, next, contracts.SampleOrder(), inventory.Source{Partition: 4, Offset: 41})
	if got := levels(next, "PRODUCT-123", "PRODUCT-321"); !maps.Equal(got, map[string]int{"PRODUCT-123": 103, "PRODUCT-321": 108}) {
		t.Errorf("levels %v, want PRODUCT-123 taken twice (once before the restore), PRODUCT-321 once", got)
	}
	if p, _ := next.Product("PRODUCT-123"); p.Lines != 2 {
		t.Errorf("PRODUCT-123 lines %d, want 2", p.Lines)
	}
}

var window = inventory.Bounds{Window: time.Minute, Limit: 1000, MaxBytes: 1 << 20}

func line(order string, partition int32, offset int64, lineNo int, product string) inventory.Reservation {
	return inventory.Reservation{OrderID: order, Line: lineNo, ProductID: product, Quantity: 1,
		Source: inventory.Source{Partition: partition, Offset: offset}}
}

// TestOrdersAdmitsEachOrderOncePerProduct admits lines of orders, some
// placed again on another partition or delivered again, as the owner of
// their products meets them.
func TestOrdersAdmitsEachOrderOncePerProduct(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	orders := inventory.NewOrders(window)
	steps := []struct {
		name string
		r    inventory.Reservation
		at   time.Duration
		ok   bool
	}{
		{"a new order", line("A", 0, 1, 0, "P"), 0, true},
		{"its next line, another product", line("A", 0, 1, 1, "Q"), 0, true},
		{"its third line, P again", line("A", 0, 1, 2, "P"), 0, true},
		{"the same line delivered again", line("A", 0, 1, 2, "P"), time.Second, false},
		{"the order placed again on another partition", line("A", 3, 9, 0, "P"), 2 * time.Second, false},
		{"placed again on the same partition", line("A", 0, 5, 1, "Q"), 2 * time.Second, false},
		{"another order of the same product", line("B", 3, 10, 0, "P"), 3 * time.Second, true},
		{"A placed again, for a product it had not", line("A", 3, 11, 0, "R"), 4 * time.Second, true},
		{"after the window, A is new again", line("A", 1, 12, 0, "P"), 62 * time.Second, true},
	}
	for _, s := range steps {
		if _, ok := orders.Admit(s.r, start.Add(s.at)); ok != s.ok {
			t.Errorf("%s: Admit(%+v) = %v, want %v", s.name, s.r, ok, s.ok)
		}
	}
	// B and R, both within the window, and A's new entry.
	if n, _ := orders.Len(); n != 3 {
		t.Errorf("Len = %d, want 3", n)
	}
}

// TestOrdersClockIsTheServices checks that the window runs on the times
// Admit is given, the service's clock, and restored entries out of it at
// start are left out.
func TestOrdersClockIsTheServices(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	orders := inventory.NewOrders(window)
	for _, r := range []struct {
		order string
		at    time.Time
	}{
		{"OLD", now.Add(-2 * time.Minute)},
		{"RECENT", now.Add(-30 * time.Second)},
		{"FUTURE", time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)},
	} {
		orders.Restore(r.order, "P", inventory.Applied{Source: inventory.Source{Offset: 1}, At: r.at}, now)
	}
	if _, ok := orders.Admit(line("OLD", 0, 2, 0, "P"), now); !ok {
		t.Error("an order restored from before the window was not admitted again")
	}
	if _, ok := orders.Admit(line("RECENT", 0, 3, 0, "P"), now); ok {
		t.Error("an order restored from within the window was admitted again")
	}
	// A restored entry stamped far ahead expires no earlier entry.
	if _, ok := orders.Admit(line("RECENT", 0, 4, 0, "P"), now.Add(time.Second)); ok {
		t.Error("an entry from 2100 made the window forget an order within it")
	}
}

// TestOrdersBoundsMemory fills the window past its limit and its bytes: the
// oldest lines are forgotten first.
func TestOrdersBoundsMemory(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 8, 0, 0, 0, 0, time.UTC)
	t.Run("limit", func(t *testing.T) {
		t.Parallel()
		orders := inventory.NewOrders(inventory.Bounds{Window: time.Hour, Limit: 3, MaxBytes: 1 << 20})
		for i := range 5 {
			orders.Admit(line(fmt.Sprint("O", i), 0, int64(i), 0, "P"), now)
		}
		if n, _ := orders.Len(); n != 3 {
			t.Errorf("Len = %d, want the limit, 3", n)
		}
		if _, ok := orders.Admit(line("O1", 0, 99, 0, "P"), now); !ok {
			t.Error("O1, beyond the limit, is still remembered")
		}
		if _, ok := orders.Admit(line("O4", 0, 98, 0, "P"), now); ok {
			t.Error("O4, the newest, was forgotten")
		}
	})
	t.Run("bytes", func(t *testing.T) {
		t.Parallel()
		const maxBytes = 64 << 10
		orders := inventory.NewOrders(inventory.Bounds{Window: time.Hour, Limit: 1_000_000, MaxBytes: maxBytes})
		long := strings.Repeat("x", 10_000)
		for i := range 100 {
			orders.Admit(line(fmt.Sprint(long, i), 0, int64(i), 0, "P"), now)
		}
		n, bytes := orders.Len()
		if bytes > maxBytes || n == 0 {
			t.Errorf("%d entries in %d bytes, want some, in at most %d", n, bytes, maxBytes)
		}
		if _, ok := orders.Admit(line(fmt.Sprint(long, 99), 0, 200, 0, "P"), now); ok {
			t.Error("the newest long order id was forgotten")
		}
	})
}

func TestNewLedgerRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		levels map[string]int
		policy inventory.Policy
		want   string
	}{
		{"no products", map[string]int{}, tutorialPolicy, "at least one product"},
		{"blank id", map[string]int{" ": 1}, tutorialPolicy, "blank"},
		{"negative stock", map[string]int{"P": -1}, tutorialPolicy, "negative"},
		{"refill not above threshold", tutorialLevels(), inventory.Policy{Threshold: 100, RefillLevel: 100}, "greater than the threshold"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := inventory.NewLedger(tt.levels, tt.policy); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewLedger = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// BenchmarkLedgerApply is the cost of the tutorial's rule for one order
// line, the order-id window included.
func BenchmarkLedgerApply(b *testing.B) {
	ledger, err := inventory.NewLedger(tutorialLevels(), tutorialPolicy)
	if err != nil {
		b.Fatal(err)
	}
	orders := inventory.NewOrders(inventory.Bounds{Window: time.Hour, Limit: 100_000, MaxBytes: 32 << 20})
	now := time.Now()
	r := inventory.Reservation{ProductID: "PRODUCT-123", Quantity: 3}
	b.ReportAllocs()
	for b.Loop() {
		r.Source.Offset++
		// A new order each time: past the limit, the oldest is forgotten.
		r.OrderID = strconv.FormatInt(r.Source.Offset, 10)
		if _, ok := orders.Admit(r, now); !ok {
			b.Fatalf("Admit(%+v) refused a new order", r)
		}
		if o, err := ledger.Apply(r); err != nil || o.Unknown {
			b.Fatalf("Apply = %+v, %v", o, err)
		}
	}
}
