package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// discard is a Publisher that acknowledges everything at once.
type discard struct{ records int }

func (d *discard) Publish(_ context.Context, recs ...kafka.Record) error {
	d.records += len(recs)
	return nil
}

func benchPipeline(pub kafka.Publisher) *Pipeline {
	set := Settings{
		Group:   "bench",
		Topics:  TopicsFor("bench"),
		Initial: map[string]int{"PRODUCT-123": 109, "PRODUCT-321": 109},
		Policy:  inventory.Policy{Threshold: 100, RefillLevel: 109},
		Orders:  inventory.Bounds{Window: time.Hour, Limit: 100_000, MaxBytes: 16 << 20},
	}
	p := New(set, eventbus.NewPublisher(pub, "bench"), nil, kafka.DeadLetters{Topic: "dlt", Group: "bench"}, zap.NewNop())
	p.partitions = 6
	return p
}

// BenchmarkSplit is the inventory's per-order cost of its first step, on a
// batch of 500 sample orders, without Kafka: decode, reservations.
func BenchmarkSplit(b *testing.B) {
	pub := &discard{}
	p := benchPipeline(pub)
	pub2 := eventbus.NewPublisher(pub, "bench")
	const batch = 500
	msgs := make([]*kafka.Message, batch)
	for i := range msgs {
		order := contracts.SampleOrder()
		order.OrderID = fmt.Sprintf("ORDER-%d", i)
		recs, err := pub2.Records(context.Background(), order)
		if err != nil {
			b.Fatal(err)
		}
		msgs[i] = &kafka.Message{Topic: contracts.TopicNewOrder, Offset: int64(i), Value: recs[0].Value, Headers: recs[0].Headers, Timestamp: time.Now()}
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.split(context.Background(), pub, msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/order")
}

// BenchmarkApply is the per-line cost of the second step: decode a
// reservation, admit its order, apply the rule, build its events, the
// state record and the record of the orders applied.
func BenchmarkApply(b *testing.B) {
	pub := &discard{}
	p := benchPipeline(pub)
	// 500 orders' lines for one product, as one batch of orders makes them:
	// one record.
	const batch = 500
	rb := newReservationBuilder(p.set.Topics.Reservations, p.partitions)
	for i := range batch {
		rb.add(inventory.Reservation{OrderID: fmt.Sprintf("ORDER-%d", i), ProductID: "PRODUCT-123", Quantity: 3,
			Source: inventory.Source{Offset: int64(i)}}, origin{correlationID: "corr"})
	}
	rec := rb.records()[0]
	msgs := []*kafka.Message{{Topic: rec.Topic, Value: rec.Value, Headers: rec.Headers}}
	b.ReportAllocs()
	for b.Loop() {
		// A fresh state each time, or every line would be a repeat after
		// the first round.
		ledger, err := inventory.NewLedger(p.set.Initial, p.set.Policy)
		if err != nil {
			b.Fatal(err)
		}
		st := &partitionState{out: pub, ledger: ledger, orders: inventory.NewOrders(p.set.Orders)}
		if err := p.apply(context.Background(), st, msgs); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/line")
}
