// Package pipeline runs the inventory on Kafka, exactly once per order line
// however many instances share the work:
//
//	new-order-topic --split--> <group>-reservations --apply--> outputs
//	   (key orderId)              (key productId)          |    (inventory-empty-topic,
//	        |                                              |     new-logging-action-topic)
//	<group>-order-ids-changelog              <group>-stock-changelog
//
// Both stages run in one consumer group, so each partition of each topic has
// one owner at a time. The owner of an order partition splits its orders
// into reservations and remembers their ids (to skip an order placed twice);
// the owner of a reservation partition holds the state of that partition's
// products and applies their reservations. Each owner restores its state
// from the matching changelog partition before its first batch, and every
// batch is published with one produce per stage (see the Pipeline methods).
//
// What is exact and what is at least once: every order line changes its
// product's stock once, whatever is delivered again (see package
// inventory); the events that come of it (inventory-empty, logging actions)
// are published before the state that records them, so a crash between the
// two may publish them twice, never lose them.
package pipeline

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/logging"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// Settings are the inventory's rule and state.
type Settings struct {
	Topics Topics
	// Initial is the stock of each product the shop holds at start.
	Initial map[string]int
	Policy  inventory.Policy
	// OrderIDWindow is how long an order id is remembered, so that the same
	// order placed again within it is skipped.
	OrderIDWindow time.Duration
}

// Pipeline splits orders and applies reservations for the partitions this
// instance owns.
type Pipeline struct {
	set    Settings
	pub    kafka.Publisher
	events *eventbus.Publisher
	reader *kafka.Reader
	dead   kafka.DeadLetters
	retry  kafka.RetryPolicy
	log    *zap.Logger
}

// New returns a pipeline that publishes with pub, builds event records with
// events, restores state with reader and dead-letters with dead.
func New(set Settings, pub kafka.Publisher, events *eventbus.Publisher, reader *kafka.Reader,
	dead kafka.DeadLetters, log *zap.Logger) *Pipeline {
	return &Pipeline{
		set: set, pub: pub, events: events, reader: reader, dead: dead,
		retry: kafka.DefaultRetryPolicy(), log: log,
	}
}

// Topics returns the topics the pipeline's consumer group reads.
func (p *Pipeline) Topics() []string {
	return []string{p.set.Topics.Orders, p.set.Topics.Reservations}
}

// TopicSpecs returns the pipeline's own topics, made with spec (which
// fills in partitions and replication).
func (p *Pipeline) TopicSpecs(spec func(name string, configs map[string]string) kafka.TopicSpec) []kafka.TopicSpec {
	return []kafka.TopicSpec{
		spec(p.set.Topics.Reservations, nil),
		spec(p.set.Topics.Stock, map[string]string{"cleanup.policy": "compact", "segment.ms": "600000"}),
		spec(p.set.Topics.OrderIDs, map[string]string{
			"cleanup.policy": "delete",
			"retention.ms":   fmt.Sprint((p.set.OrderIDWindow + time.Hour).Milliseconds()),
			"segment.ms":     "600000",
		}),
	}
}

// CheckPartitions reports a changelog whose partitions do not match those of
// the topic it records: the state of a partition would be looked for in the
// wrong place.
func (p *Pipeline) CheckPartitions() error {
	t := p.set.Topics
	for _, pair := range [][2]string{{t.Orders, t.OrderIDs}, {t.Reservations, t.Stock}} {
		a, err := p.reader.Partitions(pair[0])
		if err != nil {
			return err
		}
		b, err := p.reader.Partitions(pair[1])
		if err != nil {
			return err
		}
		if a != b {
			return fmt.Errorf("topic %s has %d partitions but its changelog %s has %d: they must match", pair[0], a, pair[1], b)
		}
	}
	return nil
}

// Open starts on a claimed partition: it restores the partition's state and
// returns the handler for its batches.
func (p *Pipeline) Open(ctx context.Context, c kafka.Claim) (kafka.BatchHandler, error) {
	switch c.Topic {
	case p.set.Topics.Orders:
		return p.openSplit(ctx, c.Partition)
	case p.set.Topics.Reservations:
		return p.openApply(ctx, c.Partition)
	}
	return nil, fmt.Errorf("no stage reads topic %s", c.Topic)
}

// openSplit restores the order ids seen on an order partition and returns
// the handler that splits its orders.
func (p *Pipeline) openSplit(ctx context.Context, partition int32) (kafka.BatchHandler, error) {
	orders := inventory.NewOrders(p.set.OrderIDWindow)
	started := time.Now()
	n, err := p.reader.ReadPartition(ctx, p.set.Topics.OrderIDs, partition, func(m *kafka.Message) error {
		ids, err := decodeOrderIDs(m)
		if err != nil {
			return err
		}
		for _, o := range ids {
			orders.Check(o.ID, o.Offset, time.UnixMilli(o.At))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("restore order ids: %w", err)
	}
	p.log.Info("order ids restored", zap.String("topic", p.set.Topics.Orders), zap.Int32("partition", partition),
		zap.Int("order_ids", orders.Len()), zap.Int("records", n), zap.Duration("took", time.Since(started)))
	return func(ctx context.Context, msgs []*kafka.Message) error {
		return p.split(ctx, orders, msgs)
	}, nil
}

// split publishes the reservations of a batch of orders, one record per
// product, with a record of the orders' ids and the dead-letter records of
// the poison ones, in one produce. An order is recorded as seen in the same
// produce as its reservations: if it comes again from the same record (the
// batch was not committed), its reservations are made again and their
// owners skip what they applied.
//
// Each order is split in a span of its own that continues the order's
// trace (kafka.StartProcess), and its reservation lines carry that span's
// context on: one record holds the lines of many orders.
func (p *Pipeline) split(ctx context.Context, orders *inventory.Orders, msgs []*kafka.Message) error {
	var out []kafka.Record
	reserved := newReservationBuilder(p.set.Topics.Reservations)
	var seen orderIDsBuilder
	for _, m := range msgs {
		octx, end := kafka.StartProcess(ctx, m, m.Headers)
		err := p.splitOne(octx, orders, m, reserved, &seen)
		if err != nil {
			out = append(out, p.deadLetter(octx, m, err))
		}
		end(err)
	}
	out = append(out, reserved.records()...)
	out = append(out, seen.records(p.set.Topics.OrderIDs, msgs[0].Partition)...)
	return p.publish(ctx, out)
}

// splitOne adds the reservations of the order in m to reserved and its id
// to seen, unless the order was seen before. An error means the order can
// never be split: it is to be dead-lettered.
func (p *Pipeline) splitOne(ctx context.Context, orders *inventory.Orders, m *kafka.Message,
	reserved *reservationBuilder, seen *orderIDsBuilder) error {
	order, err := contracts.DecodeOrder(m.Value)
	var rs []inventory.Reservation
	if err == nil {
		rs, err = inventory.Split(order, inventory.Source{Partition: m.Partition, Offset: m.Offset})
	}
	corr := eventbus.CorrelationOf(m)
	if err == nil {
		err = fitsRecords(order, corr)
	}
	if err != nil {
		return err
	}
	if first, repeat := orders.Check(order.OrderID, m.Offset, m.Timestamp); repeat {
		p.log.Info("order placed again, skipped", zap.String("order_id", order.OrderID),
			zap.Int32("partition", m.Partition), zap.Int64("offset", m.Offset), zap.Int64("first_offset", first),
			logging.Trace(ctx))
		return nil
	}
	seen.add(order.OrderID, m.Offset, m.Timestamp)
	from := origin{correlationID: corr, trace: kafka.TraceHeaders(ctx)}
	for _, r := range rs {
		reserved.add(r, from)
	}
	return nil
}

// fitsRecords refuses an order whose ids are too long for the records it
// makes: a reservation line or an order id over maxRecordBody could make a
// record Kafka refuses, and the whole batch, and its partition, would be
// stuck behind it. Such an order goes to the dead-letter topic instead.
func fitsRecords(order contracts.Order, correlationID string) error {
	for i, line := range order.Products {
		if n := len(order.OrderID) + 2*len(line.ProductID) + len(correlationID) + 200; n > maxRecordBody {
			return kafka.Permanent(fmt.Errorf("order line %d needs %d bytes in the inventory's records, at most %d fit: ids too long",
				i, n, maxRecordBody))
		}
	}
	return nil
}

// openApply restores the state of a reservation partition's products and
// returns the handler that applies its reservations.
func (p *Pipeline) openApply(ctx context.Context, partition int32) (kafka.BatchHandler, error) {
	ledger, err := inventory.NewLedger(p.set.Initial, p.set.Policy)
	if err != nil {
		return nil, err
	}
	started := time.Now()
	products := map[string]bool{}
	n, err := p.reader.ReadPartition(ctx, p.set.Topics.Stock, partition, func(m *kafka.Message) error {
		id, state, err := decodeStock(m)
		if err != nil {
			return err
		}
		ledger.Restore(id, state)
		products[id] = true
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("restore stock: %w", err)
	}
	p.log.Info("stock restored", zap.String("topic", p.set.Topics.Reservations), zap.Int32("partition", partition),
		zap.Int("products", len(products)), zap.Int("records", n), zap.Duration("took", time.Since(started)))
	return func(ctx context.Context, msgs []*kafka.Message) error {
		return p.apply(ctx, ledger, msgs)
	}, nil
}

// maxPendingEvents bounds the event records apply holds before publishing.
const maxPendingEvents = 2000

// apply applies a batch of reservations, then publishes their events (with
// the dead-letter records of poison ones) in one produce, or one per
// maxPendingEvents, and the new state of every product they changed in the
// next. The state goes last: once it
// is written, a reservation delivered again is skipped, so its events must
// already be out.
func (p *Pipeline) apply(ctx context.Context, ledger *inventory.Ledger, msgs []*kafka.Message) error {
	out := make([]kafka.Record, 0, 2*len(msgs))
	changed := make(map[string]bool)
	for _, m := range msgs {
		rs, from, err := decodeReservations(m)
		if err != nil {
			out = append(out, p.deadLetter(ctx, m, err))
			continue
		}
		for i, r := range rs {
			recs, err := p.applyOne(ctx, ledger, m, r, from[i], changed)
			if err != nil {
				return err
			}
			out = append(out, recs...)
		}
		// A record holds a whole batch of orders' lines for its product,
		// so a batch of records can make many events: publish them as they
		// pile up rather than hold them all. The state still waits for all.
		if len(out) >= maxPendingEvents {
			if err := p.publish(ctx, out); err != nil {
				return err
			}
			out = out[:0]
		}
	}
	if err := p.publish(ctx, out); err != nil {
		return err
	}
	state := make([]kafka.Record, 0, len(changed))
	for id := range changed {
		product, _ := ledger.Product(id)
		state = append(state, stockRecord(p.set.Topics.Stock, id, product))
	}
	return p.publish(ctx, state)
}

// applyOne applies one reservation, a line of record m that came from the
// order from, notes its product in changed if its stock changed, and
// returns the records of its events. It does so in a span that continues
// the order's trace, as the events do.
func (p *Pipeline) applyOne(ctx context.Context, ledger *inventory.Ledger, m *kafka.Message, r inventory.Reservation,
	from origin, changed map[string]bool) (_ []kafka.Record, err error) {
	ctx, end := kafka.StartProcess(ctx, m, from.trace)
	defer func() { end(err) }()
	o, err := ledger.Apply(r) // decodeReservations lets no invalid quantity through
	if err != nil {
		return nil, err
	}
	order, product, trace := zap.String("order_id", r.OrderID), zap.String("product_id", r.ProductID), logging.Trace(ctx)
	switch {
	case o.Duplicate:
		p.log.Info("order line applied before, skipped", order, product, zap.Int("line", r.Line),
			zap.Int32("order_partition", r.Source.Partition), zap.Int64("order_offset", r.Source.Offset), trace)
		return nil, nil
	case o.Unknown:
		p.log.Warn("unknown product, order line not applied", order, product, zap.Int("quantity", r.Quantity), trace)
	default:
		changed[r.ProductID] = true
		// Every line is a logging action that logging-service prints
		// already; here it is for debugging, its fields built only then.
		if ce := p.log.Check(zap.DebugLevel, "inventory updated"); ce != nil {
			ce.Write(order, product, zap.Int("quantity", r.Quantity), zap.Int("stock", o.Taken.Left), trace)
		}
		if o.Taken.Refilled {
			p.log.Info("inventory empty, product refilled", order, product,
				zap.Int("stock_before", o.Taken.Left), zap.Int("stock", o.Taken.Level), trace)
		}
	}
	correlationID := from.correlationID
	if correlationID == "" {
		correlationID = eventbus.NewID()
	}
	recs, err := p.events.Records(correlation.With(ctx, correlationID), o.Events(r.ProductID)...)
	if err != nil {
		return nil, err
	}
	// A crash after the events went out and before the state did makes
	// this line apply again, with the same outcome: its events then carry
	// the same ids, and consumers that drop repeats by event id drop them.
	for i := range recs {
		recs[i].Headers[contracts.HeaderEventID] = eventID(p.set.Topics.Reservations, r, i)
	}
	return recs, nil
}

// eventID names the i-th event of applying reservation r, whose records
// are on the topic reservations: by the order record it comes from and its
// line in it.
func eventID(reservations string, r inventory.Reservation, i int) string {
	return eventbus.StableID(reservations, strconv.Itoa(int(r.Source.Partition)),
		strconv.FormatInt(r.Source.Offset, 10), strconv.Itoa(r.Line), strconv.Itoa(i))
}

// publish publishes records, retrying until they are acknowledged or the
// consumer stops; then the batch is not marked and is delivered again.
func (p *Pipeline) publish(ctx context.Context, recs []kafka.Record) error {
	if len(recs) == 0 {
		return nil
	}
	return p.retry.Do(ctx, func() error { return p.pub.Publish(ctx, recs...) },
		func(attempt int, wait time.Duration, err error) {
			p.log.Warn("publishing a batch failed, retrying", zap.Int("records", len(recs)),
				zap.Int("attempt", attempt), zap.Duration("backoff", wait), zap.Error(err))
		})
}

func (p *Pipeline) deadLetter(ctx context.Context, m *kafka.Message, err error) kafka.Record {
	p.log.Warn("message dead-lettered", zap.String("topic", m.Topic), zap.Int32("partition", m.Partition),
		zap.Int64("offset", m.Offset), zap.String("dead_letter_topic", p.dead.Topic), zap.Error(err), logging.Trace(ctx))
	return p.dead.Record(ctx, m, err)
}
