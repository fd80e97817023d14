package pipeline_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
	"github.com/eventshop/eventshop/services/inventory-service/internal/pipeline"
)

// restoreProducts is how many products the restore tests hold, all on one
// partition: the most the owner of one reservation partition of a shop that
// size can have to restore before it applies a line.
const restoreProducts = 10_000

// TestRestoreTenThousandProducts opens a reservation partition whose stock
// changelog holds two states of each of 10,000 products, as it does before
// compaction, and whose applied-orders changelog holds an order of each.
// What was restored is checked by what the partition's handler then does:
// the order placed again is skipped, a new one is taken from the restored
// stock.
func TestRestoreTenThousandProducts(t *testing.T) {
	t.Parallel()
	f := newRestoreFixture(t, restoreProducts)

	started := time.Now()
	handle, err := f.pipe.Open(context.Background(), f.claim)
	took := time.Since(started)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	restored := f.logs.FilterMessage("stock restored").All()
	if len(restored) != 1 {
		t.Fatalf("%d %q log entries, want 1", len(restored), "stock restored")
	}
	fields := restored[0].ContextMap()
	if fields["products"] != int64(restoreProducts) || fields["records"] != int64(2*restoreProducts) ||
		fields["applied_orders"] != int64(restoreProducts) {
		t.Errorf("restore read %v products from %v records and %v applied orders, want %d from %d and %d",
			fields["products"], fields["records"], fields["applied_orders"], restoreProducts, 2*restoreProducts, restoreProducts)
	}
	t.Logf("restored %d products from %d changelog records and %d applied orders in %s",
		restoreProducts, 2*restoreProducts, restoreProducts, took)

	// For a few products across the partition: the order the changelog
	// records as applied comes again from another order record, then a new
	// order's line.
	var msgs []*kafka.Message
	want := map[string]inventory.Product{}
	for _, k := range []int{0, 4_321, restoreProducts - 1} {
		id, state := productID(k), currentState(k)
		msgs = append(msgs,
			f.reservation(id, appliedOrder(k), 3, int64(k), 0, 3),
			f.reservation(id, "NEW-"+id, 3, int64(k)+1, 0, 3))
		state.Stock -= 3
		state.Lines++
		want[id] = state
	}
	if err := handle(context.Background(), msgs); err != nil {
		t.Fatalf("handle: %v", err)
	}
	published := f.pub.Published()
	got := states(t, published, f.topics.Stock)
	if !maps.Equal(got, want) {
		t.Errorf("state published after the restore:\n%v\nwant\n%v", got, want)
	}
	if n := count(published, contracts.TopicNewLoggingAction); n != len(want) {
		t.Errorf("%d logging actions, want %d: one per line applied, none for an order placed again", n, len(want))
	}
	if n := len(f.logs.FilterMessage("order placed again, line skipped").All()); n != len(want) {
		t.Errorf("%d lines skipped as placed again, want %d", n, len(want))
	}
}

// BenchmarkRestore measures opening a reservation partition whose stock
// changelog holds two states of each of 10,000 products.
func BenchmarkRestore(b *testing.B) {
	f := newRestoreFixture(b, restoreProducts)
	for b.Loop() {
		if _, err := f.pipe.Open(context.Background(), f.claim); err != nil {
			b.Fatalf("open: %v", err)
		}
	}
	b.ReportMetric(float64(restoreProducts)*float64(b.N)/b.Elapsed().Seconds(), "products/s")
}

// restoreFixture is a pipeline on a broker whose changelogs hold the state
// of many products and an order applied to each, on partition 0, and which
// publishes to pub.
type restoreFixture struct {
	pipe   *pipeline.Pipeline
	topics pipeline.Topics
	claim  kafka.Claim
	pub    *eventbustest.Records
	logs   *observer.ObservedLogs
	offset int64 // of the next reservation message made up
}

// restoreNow is the clock of the restore fixture's pipeline.
var restoreNow = time.Date(2026, 12, 8, 12, 0, 0, 0, time.UTC)

func newRestoreFixture(tb testing.TB, products int) *restoreFixture {
	tb.Helper()
	kcfg := kafkatest.Config(tb)
	group := kafkatest.Name(tb, "inventory")
	initial := make(map[string]int, products)
	for k := range products {
		initial[productID(k)] = 100
	}
	set := pipeline.Settings{
		Group:   group,
		Topics:  pipeline.TopicsFor(group),
		Initial: initial,
		Policy:  inventory.Policy{Threshold: 10, RefillLevel: 100},
		Orders:  inventory.Bounds{Window: time.Hour, Limit: 100_000, MaxBytes: 64 << 20},
		Now:     func() time.Time { return restoreNow },
	}
	reader, err := kafka.NewReader(kcfg)
	if err != nil {
		tb.Fatalf("reader: %v", err)
	}
	tb.Cleanup(func() { _ = reader.Close() })
	core, logs := observer.New(zap.InfoLevel)
	pub := &eventbustest.Records{}
	pipe := pipeline.New(set, eventbus.NewPublisher(pub, contracts.ServiceInventory), reader,
		kafka.DeadLetters{Topic: kafka.DefaultDeadLetterTopic, Group: group}, zap.New(core))

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	onePartition := func(name string, configs map[string]string) kafka.TopicSpec {
		return kafka.TopicSpec{Name: name, Partitions: 1, ReplicationFactor: 1, Configs: configs}
	}
	if err := kafka.EnsureTopics(ctx, kcfg, zap.NewNop(), pipe.TopicSpecs(onePartition)...); err != nil {
		tb.Fatalf("topics: %v", err)
	}
	if err := pipe.Pin(context.Background()); err != nil {
		tb.Fatalf("pin: %v", err)
	}

	producer, err := kafka.NewProducer(kcfg)
	if err != nil {
		tb.Fatalf("producer: %v", err)
	}
	defer producer.Close()
	// An outdated state of every product, then its current one, then the
	// orders applied, a minute before the fixture's clock.
	for _, state := range []func(int) inventory.Product{outdatedState, currentState} {
		for start := 0; start < products; start += 1000 {
			var recs []kafka.Record
			for k := start; k < min(start+1000, products); k++ {
				body, err := json.Marshal(state(k))
				if err != nil {
					tb.Fatal(err)
				}
				recs = append(recs, kafka.Record{Topic: set.Topics.Stock, Key: []byte(productID(k)), Value: body})
			}
			if err := producer.Publish(ctx, recs...); err != nil {
				tb.Fatalf("write changelog: %v", err)
			}
		}
	}
	for start := 0; start < products; start += 1000 {
		var lines []string
		for k := start; k < min(start+1000, products); k++ {
			lines = append(lines, fmt.Sprintf(`{"orderId":%q,"productId":%q,"orderPartition":2,"orderOffset":%d,"line":0,"at":%d}`,
				appliedOrder(k), productID(k), k, restoreNow.Add(-time.Minute).UnixMilli()))
		}
		rec := kafka.Record{Topic: set.Topics.AppliedOrders, Value: []byte(`{"lines":[` + strings.Join(lines, ",") + `]}`)}
		if err := producer.Publish(ctx, rec); err != nil {
			tb.Fatalf("write applied orders: %v", err)
		}
	}
	return &restoreFixture{
		pipe: pipe, topics: set.Topics, pub: pub, logs: logs,
		claim: kafka.Claim{Topic: set.Topics.Reservations, Partition: 0, Out: pub},
	}
}

func productID(k int) string { return fmt.Sprintf("PRODUCT-%05d", k) }

// appliedOrder is the order the fixture's changelog records as applied to
// product k.
func appliedOrder(k int) string { return "ORDER-" + productID(k) }

// currentState is product k's state as the changelog has it last.
func currentState(k int) inventory.Product {
	return inventory.Product{Stock: 50 + k%50, Lines: 6 * (k + 1), Refills: k % 7}
}

// outdatedState is a state of product k before currentState.
func outdatedState(k int) inventory.Product {
	p := currentState(k)
	p.Stock, p.Lines = 99, p.Lines-1
	return p
}

// reservation returns a reservations record as the split stage writes it:
// line of order orderID, read at orderOffset of order partition
// orderPartition.
func (f *restoreFixture) reservation(id, orderID string, orderPartition int32, orderOffset int64, line, quantity int) *kafka.Message {
	body := fmt.Sprintf(`{"productId":%q,"lines":[{"orderId":%q,"line":%d,"quantity":%d,"orderPartition":%d,"orderOffset":%d,"correlationId":"c"}]}`,
		id, orderID, line, quantity, orderPartition, orderOffset)
	f.offset++
	return &kafka.Message{Topic: f.claim.Topic, Partition: f.claim.Partition, Offset: f.offset - 1,
		Key: []byte(id), Value: []byte(body), Timestamp: time.Now()}
}

// count returns how many of recs are on topic.
func count(recs []kafka.Record, topic string) int {
	n := 0
	for _, rec := range recs {
		if rec.Topic == topic {
			n++
		}
	}
	return n
}

// states returns the last state recs hold for each product on topic.
func states(tb testing.TB, recs []kafka.Record, topic string) map[string]inventory.Product {
	tb.Helper()
	out := map[string]inventory.Product{}
	for _, rec := range recs {
		if rec.Topic != topic {
			continue
		}
		var p inventory.Product
		if err := json.Unmarshal(rec.Value, &p); err != nil {
			tb.Fatalf("state of %s: %v", rec.Key, err)
		}
		out[string(rec.Key)] = p
	}
	return out
}
