package inventory_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// recordingPublisher records the events of every Publish call and answers
// each with err.
type recordingPublisher struct {
	err error

	mu    sync.Mutex
	calls [][]contracts.Event
}

func (p *recordingPublisher) Publish(_ context.Context, events ...contracts.Event) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, slices.Clone(events))
	return p.err
}

// takeCalls returns the calls recorded since the last takeCalls.
func (p *recordingPublisher) takeCalls() [][]contracts.Event {
	p.mu.Lock()
	defer p.mu.Unlock()
	calls := p.calls
	p.calls = nil
	return calls
}

var (
	updated        = contracts.LoggingAction{ServiceName: "inventory-service", Action: "inventory-updated"}
	emptied        = contracts.LoggingAction{ServiceName: "inventory-service", Action: "inventory-empty"}
	unknownProduct = contracts.LoggingAction{ServiceName: "inventory-service", Action: "inventory-unknown-product"}
)

// TestTutorialSequence places the tutorial's sample order (PRODUCT-123 x3,
// PRODUCT-321 x1) nine times against the tutorial's stock and compares the
// events published for each order, and the stock after it, with
// testdata/tutorial-sequence.golden.
func TestTutorialSequence(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	stock := newStock(t, tutorialLevels(), tutorialPolicy)
	svc := inventory.NewService(stock, pub, zap.NewNop())

	// The tutorial's milestones, checked here as well so that a carelessly
	// regenerated golden file cannot hide a change in them: PRODUCT-123
	// reaches 100 on every third order, PRODUCT-321 on the ninth.
	wantEmptied := map[int][]string{3: {"PRODUCT-123"}, 6: {"PRODUCT-123"}, 9: {"PRODUCT-123", "PRODUCT-321"}}

	var got strings.Builder
	for n := 1; n <= 9; n++ {
		if err := svc.ApplyOrder(context.Background(), contracts.SampleOrder()); err != nil {
			t.Fatalf("order %d: %v", n, err)
		}
		calls := pub.takeCalls()
		if len(calls) != 1 {
			t.Fatalf("order %d: %d Publish calls, want 1 batch", n, len(calls))
		}
		var emptiedIDs []string
		fmt.Fprintf(&got, "order %d\n", n)
		for _, e := range calls[0] {
			body, err := contracts.Encode(e)
			if err != nil {
				t.Fatalf("order %d: encode %#v: %v", n, e, err)
			}
			fmt.Fprintf(&got, "  publish %-24s key %-17s %s\n", e.Topic(), e.Key(), body)
			if empty, ok := e.(contracts.InventoryEmpty); ok {
				emptiedIDs = append(emptiedIDs, empty.ProductID)
			}
		}
		fmt.Fprintf(&got, "  stock %s\n", formatLevels(stock.Levels()))
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
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
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
		{
			name:       "order of unknown products only",
			levels:     tutorialLevels(),
			lines:      []contracts.OrderLine{{ProductID: "PRODUCT-999", Quantity: 2, TotalPrice: 10}},
			want:       []contracts.Event{unknownProduct},
			wantLevels: tutorialLevels(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &recordingPublisher{}
			stock := newStock(t, tt.levels, tutorialPolicy)
			svc := inventory.NewService(stock, pub, zap.NewNop())
			order := contracts.Order{OrderID: "O-1", CustomerID: "C-1", Products: tt.lines}
			if err := svc.ApplyOrder(context.Background(), order); err != nil {
				t.Fatalf("ApplyOrder: %v", err)
			}
			if calls := pub.takeCalls(); !reflect.DeepEqual(calls, [][]contracts.Event{tt.want}) {
				t.Errorf("published %v, want one batch %v", calls, tt.want)
			}
			if levels := stock.Levels(); !maps.Equal(levels, tt.wantLevels) {
				t.Errorf("Levels = %v, want %v", levels, tt.wantLevels)
			}
		})
	}
}

// logLine is a log entry without its time and caller, for comparison.
type logLine struct {
	Level   zapcore.Level
	Message string
	Fields  map[string]any
}

func TestApplyOrderLogs(t *testing.T) {
	t.Parallel()
	core, logs := observer.New(zap.InfoLevel)
	stock := newStock(t, map[string]int{"PRODUCT-123": 103, "PRODUCT-321": 109}, tutorialPolicy)
	svc := inventory.NewService(stock, &recordingPublisher{}, zap.New(core))
	order := contracts.SampleOrder()
	order.Products = slices.Insert(order.Products, 1, contracts.OrderLine{ProductID: "PRODUCT-999", Quantity: 2, TotalPrice: 10})

	if err := svc.ApplyOrder(context.Background(), order); err != nil {
		t.Fatalf("ApplyOrder: %v", err)
	}

	var got []logLine
	for _, e := range logs.AllUntimed() {
		got = append(got, logLine{Level: e.Level, Message: e.Message, Fields: e.ContextMap()})
	}
	want := []logLine{
		{zap.InfoLevel, "inventory updated", map[string]any{"order_id": "ORDER-123", "product_id": "PRODUCT-123", "quantity": int64(3), "stock": int64(100)}},
		{zap.InfoLevel, "inventory empty, product refilled", map[string]any{"order_id": "ORDER-123", "product_id": "PRODUCT-123", "stock_before": int64(100), "stock": int64(109)}},
		{zap.WarnLevel, "unknown product, order line not applied", map[string]any{"order_id": "ORDER-123", "product_id": "PRODUCT-999", "quantity": int64(2)}},
		{zap.InfoLevel, "inventory updated", map[string]any{"order_id": "ORDER-123", "product_id": "PRODUCT-321", "quantity": int64(1), "stock": int64(108)}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("logged\n%v\nwant\n%v", got, want)
	}
}

func TestApplyOrderRejectsInvalidOrderWithoutChange(t *testing.T) {
	t.Parallel()
	pub := &recordingPublisher{}
	stock := newStock(t, tutorialLevels(), tutorialPolicy)
	svc := inventory.NewService(stock, pub, zap.NewNop())
	order := contracts.SampleOrder()
	order.Products[1].Quantity = 0 // the first line is valid, and must not be applied either

	err := svc.ApplyOrder(context.Background(), order)
	if !errors.Is(err, contracts.ErrInvalid) {
		t.Fatalf("ApplyOrder = %v, want an error wrapping contracts.ErrInvalid", err)
	}
	if calls := pub.takeCalls(); len(calls) != 0 {
		t.Errorf("published %v, want nothing", calls)
	}
	if levels := stock.Levels(); !maps.Equal(levels, tutorialLevels()) {
		t.Errorf("Levels = %v, want them unchanged", levels)
	}
}

// TestApplyOrderRetriesPublishWithoutReapplying checks that a transient
// publish failure is retried with the events already computed: the stock is
// taken once, however many attempts the publish needs.
func TestApplyOrderRetriesPublishWithoutReapplying(t *testing.T) {
	t.Parallel()
	errBroker := errors.New("broker unavailable")
	pub := &flakyPublisher{failures: 3, err: errBroker}
	stock := newStock(t, tutorialLevels(), tutorialPolicy)
	svc := inventory.NewService(stock, pub, zap.NewNop())

	if err := svc.ApplyOrder(context.Background(), contracts.SampleOrder()); err != nil {
		t.Fatalf("ApplyOrder = %v, want nil once a retry succeeds", err)
	}
	if pub.attempts != 4 {
		t.Errorf("publish attempts = %d, want 4 (3 failures, 1 success)", pub.attempts)
	}
	if want := map[string]int{"PRODUCT-123": 106, "PRODUCT-321": 108}; !maps.Equal(stock.Levels(), want) {
		t.Errorf("Levels = %v, want %v: the order was applied more than once", stock.Levels(), want)
	}
}

// TestApplyOrderGivesUpWhenContextEnds pins down the documented limit: when
// the service stops while Kafka is away, ApplyOrder returns the error after
// the stock has changed, so a redelivery would apply the order again.
func TestApplyOrderGivesUpWhenContextEnds(t *testing.T) {
	t.Parallel()
	errBroker := errors.New("broker unavailable")
	ctx, cancel := context.WithCancel(context.Background())
	pub := &flakyPublisher{failures: -1, err: errBroker, onFailure: cancel}
	stock := newStock(t, tutorialLevels(), tutorialPolicy)
	svc := inventory.NewService(stock, pub, zap.NewNop())

	err := svc.ApplyOrder(ctx, contracts.SampleOrder())
	if !errors.Is(err, errBroker) || !errors.Is(err, context.Canceled) {
		t.Fatalf("ApplyOrder = %v, want an error wrapping %v and context.Canceled", err, errBroker)
	}
	if want := map[string]int{"PRODUCT-123": 106, "PRODUCT-321": 108}; !maps.Equal(stock.Levels(), want) {
		t.Errorf("Levels = %v, want %v", stock.Levels(), want)
	}
}

// flakyPublisher fails its first failures calls (all of them when negative)
// with err, calling onFailure after each failure.
type flakyPublisher struct {
	failures  int
	err       error
	onFailure func()
	attempts  int
}

func (p *flakyPublisher) Publish(context.Context, ...contracts.Event) error {
	p.attempts++
	if p.failures < 0 || p.attempts <= p.failures {
		if p.onFailure != nil {
			p.onFailure()
		}
		return p.err
	}
	return nil
}
