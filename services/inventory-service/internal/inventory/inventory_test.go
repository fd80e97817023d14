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

// TestApplySkipsOrderRecordsAppliedBefore delivers reservations again, as
// after a crash before their offsets were committed, and from an order
// record on another partition: only new order records change the stock.
func TestApplySkipsOrderRecordsAppliedBefore(t *testing.T) {
	t.Parallel()
	ledger := newLedger(t, map[string]int{"P": 1000})
	r := func(partition int32, offset int64, line int) inventory.Reservation {
		return inventory.Reservation{OrderID: fmt.Sprint("O-", partition, "-", offset), Line: line, ProductID: "P", Quantity: 1,
			Source: inventory.Source{Partition: partition, Offset: offset}}
	}
	steps := []struct {
		r         inventory.Reservation
		duplicate bool
	}{
		{r(0, 10, 0), false},
		{r(0, 10, 1), false}, // the same product on the order's next line
		{r(0, 10, 0), true},  // delivered again
		{r(0, 10, 1), true},
		{r(0, 9, 0), true}, // an older order of the same partition
		{r(1, 3, 0), false},
		{r(0, 11, 0), false},
		{r(1, 3, 0), true},
	}
	for i, s := range steps {
		o, err := ledger.Apply(s.r)
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if o.Duplicate != s.duplicate {
			t.Errorf("step %d: %+v: duplicate %v, want %v", i, s.r.Source, o.Duplicate, s.duplicate)
		}
	}
	if p, _ := ledger.Product("P"); p.Stock != 996 || p.Lines != 4 {
		t.Errorf("product %+v, want stock 996 after 4 lines", p)
	}
}

// TestRestoreCarriesDedupe checks that a new owner restored from a product's
// state skips what the old owner applied.
func TestRestoreCarriesDedupe(t *testing.T) {
	t.Parallel()
	old := newLedger(t, tutorialLevels())
	applyOrder(t, old, contracts.SampleOrder(), inventory.Source{Partition: 4, Offset: 40})
	state, _ := old.Product("PRODUCT-123")

	next := newLedger(t, tutorialLevels())
	next.Restore("PRODUCT-123", state)
	if events := applyOrder(t, next, contracts.SampleOrder(), inventory.Source{Partition: 4, Offset: 40}); !reflect.DeepEqual(events, []contracts.Event{updated}) {
		t.Errorf("events %v, want only PRODUCT-321's update (PRODUCT-123 was applied by the old owner)", events)
	}
	if got := levels(next, "PRODUCT-123", "PRODUCT-321"); !maps.Equal(got, map[string]int{"PRODUCT-123": 106, "PRODUCT-321": 108}) {
		t.Errorf("levels %v", got)
	}
}

func TestOrdersRemembersWithinWindow(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	orders := inventory.NewOrders(time.Minute)
	steps := []struct {
		id        string
		offset    int64
		at        time.Duration
		repeat    bool
		wantFirst int64
	}{
		{"A", 1, 0, false, 1},
		{"A", 1, time.Second, false, 1}, // the same record again
		{"A", 5, 2 * time.Second, true, 1},
		{"B", 6, 3 * time.Second, false, 6},
		{"C", 7, 62 * time.Second, false, 7}, // A is now out of the window
		{"A", 8, 63 * time.Second, false, 8},
		{"B", 9, 64 * time.Second, false, 9}, // B went too
	}
	for i, s := range steps {
		first, repeat := orders.Check(s.id, s.offset, start.Add(s.at))
		if repeat != s.repeat || first != s.wantFirst {
			t.Errorf("step %d: Check(%s@%d) = %d, %v; want %d, %v", i, s.id, s.offset, first, repeat, s.wantFirst, s.repeat)
		}
	}
	if orders.Len() != 3 {
		t.Errorf("Len = %d, want 3 (C, A, B)", orders.Len())
	}
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
// line, dedupe included.
func BenchmarkLedgerApply(b *testing.B) {
	ledger, err := inventory.NewLedger(tutorialLevels(), tutorialPolicy)
	if err != nil {
		b.Fatal(err)
	}
	r := inventory.Reservation{OrderID: "O", ProductID: "PRODUCT-123", Quantity: 3}
	b.ReportAllocs()
	for b.Loop() {
		r.Source.Offset++
		if o, err := ledger.Apply(r); err != nil || o.Duplicate {
			b.Fatalf("Apply = %+v, %v", o, err)
		}
	}
}
