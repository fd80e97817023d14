// Package pipeline runs the inventory on Kafka, exactly once per order line
// however many instances share the work:
//
//	new-order-topic --split--> <group>-reservations --apply--> outputs
//	   (any key)                  (key productId)          |    (inventory-empty-topic,
//	                                                       |     new-logging-action-topic)
//	                       <group>-stock-changelog, <group>-applied-orders-changelog
//
// Both stages run in one consumer group, so each partition of each topic has
// one owner at a time. The owner of an order partition splits its orders
// into reservations, one record per product; the owner of a reservation
// partition holds the state of that partition's products and the orders
// applied to them, restores both from the changelogs' matching partitions
// before its first batch, and applies its reservations.
//
// Each batch of either stage is one Kafka transaction with the batch's
// input offsets (kafka.GroupConfig.TransactionalID): its records are read
// committed once, or never if the transaction aborts, and an owner the
// group has left behind (stalled past its session timeout) cannot commit. An order placed
// again, on any partition, is caught where its lines are applied: they go
// to the same owners as the first time (see package inventory).
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
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
	// Group is the consumer group the stages run in.
	Group  string
	Topics Topics
	// Initial is the stock of each product the shop holds at start.
	Initial map[string]int
	Policy  inventory.Policy
	// Orders bounds what each owner remembers of the orders applied, to
	// apply the same order placed again once.
	Orders inventory.Bounds
	// Now is the service's clock, which the order window runs on; nil is
	// time.Now.
	Now func() time.Time
}

// Pipeline splits orders and applies reservations for the partitions this
// instance owns.
type Pipeline struct {
	set    Settings
	events *eventbus.Publisher
	reader *kafka.Reader
	dead   kafka.DeadLetters
	log    *zap.Logger
	// partitions is how many partitions the state is spread over (Pin).
	partitions int32
}

// New returns a pipeline that builds event records with events, restores
// state with reader and dead-letters with dead. It publishes each batch's
// records with its claim's Out: a consumer with transactions makes each
// batch one transaction.
func New(set Settings, events *eventbus.Publisher, reader *kafka.Reader, dead kafka.DeadLetters, log *zap.Logger) *Pipeline {
	if set.Now == nil {
		set.Now = time.Now
	}
	return &Pipeline{set: set, events: events, reader: reader, dead: dead, log: log}
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
		spec(p.set.Topics.AppliedOrders, map[string]string{
			"cleanup.policy": "delete",
			"retention.ms":   fmt.Sprint((p.set.Orders.Window + time.Hour).Milliseconds()),
			"segment.ms":     "600000",
		}),
	}
}

// Pin fixes how many partitions the state is spread over: as many as its
// topics had when the first offsets were committed, which the consumer
// group keeps beside them (OffsetMetadata). A product's reservations and
// state then stay on the partition that count gives them, whatever the
// topics have since. It refuses topics whose counts differ from each other
// or from the one recorded: the state would be looked for on the wrong
// partitions. It waits, until ctx ends, for a group coordinator that is
// not ready yet.
func (p *Pipeline) Pin(ctx context.Context) error {
	t := p.set.Topics
	n, err := p.reader.Partitions(t.Reservations)
	if err != nil {
		return err
	}
	for _, changelog := range []string{t.Stock, t.AppliedOrders} {
		m, err := p.reader.Partitions(changelog)
		if err != nil {
			return err
		}
		if m != n {
			return fmt.Errorf("topic %s has %d partitions but its changelog %s has %d: they must match; see %s",
				t.Reservations, n, changelog, m, repartitionDoc)
		}
	}
	committed, err := p.reader.Committed(ctx, p.set.Group, t.Reservations)
	if err != nil {
		return err
	}
	for _, c := range committed {
		recorded, ok := parsePartitions(c.Metadata)
		if ok && recorded != n {
			return fmt.Errorf("topic %s and its changelogs have %d partitions, but the inventory's state was made "+
				"with %d (as consumer group %s's committed offsets record): a partition count cannot change under "+
				"the state, whose products would be looked for on other partitions; to re-partition, see %s",
				t.Reservations, n, recorded, p.set.Group, repartitionDoc)
		}
	}
	p.partitions = int32(n) //nolint:gosec // a partition count fits an int32
	return nil
}

// repartitionDoc says how to change the inventory's partition count.
const repartitionDoc = "docs/operations.md#re-partitioning-the-inventory"

// OffsetMetadata is what the pipeline's consumer group commits beside every
// offset: the partition count Pin fixed.
func (p *Pipeline) OffsetMetadata() string {
	return partitionsKey + strconv.Itoa(int(p.partitions))
}

const partitionsKey = "inventory-partitions="

func parsePartitions(metadata string) (int, bool) {
	text, ok := strings.CutPrefix(metadata, partitionsKey)
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(text)
	return n, err == nil
}

// Open starts on a claimed partition: it restores the partition's state and
// returns the handler for its batches.
func (p *Pipeline) Open(ctx context.Context, c kafka.Claim) (kafka.BatchHandler, error) {
	if p.partitions == 0 {
		return nil, errors.New("the pipeline's partitions are not pinned: call Pin first")
	}
	if c.Out == nil {
		return nil, fmt.Errorf("claim %s/%d has no publisher: the consumer must have transactions", c.Topic, c.Partition)
	}
	switch c.Topic {
	case p.set.Topics.Orders:
		return func(ctx context.Context, msgs []*kafka.Message) error {
			return p.split(ctx, c.Out, msgs)
		}, nil
	case p.set.Topics.Reservations:
		return p.openApply(ctx, c)
	}
	return nil, fmt.Errorf("no stage reads topic %s", c.Topic)
}

// split publishes the reservations of a batch of orders, one record per
// product on the partition of the state that holds it, with the
// dead-letter records of the poison orders. Whether an order was placed
// before is for the owners of its products to tell.
//
// Each order is split in a span of its own that continues the order's
// trace (kafka.StartProcess), and its reservation lines carry that span's
// context on: one record holds the lines of many orders.
func (p *Pipeline) split(ctx context.Context, out kafka.Publisher, msgs []*kafka.Message) error {
	var recs []kafka.Record
	reserved := newReservationBuilder(p.set.Topics.Reservations, p.partitions)
	for _, m := range msgs {
		octx, end := kafka.StartProcess(ctx, m, m.Headers)
		err := p.splitOne(octx, m, reserved)
		if err != nil {
			recs = append(recs, p.deadLetter(octx, m, err))
		}
		end(err)
	}
	recs = append(recs, reserved.records()...)
	return out.Publish(ctx, recs...)
}

// splitOne adds the reservations of the order in m to reserved. An error
// means the order can never be split: it is to be dead-lettered.
func (p *Pipeline) splitOne(ctx context.Context, m *kafka.Message, reserved *reservationBuilder) error {
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
	from := origin{correlationID: corr, trace: kafka.TraceHeaders(ctx)}
	for _, r := range rs {
		reserved.add(r, from)
	}
	return nil
}

// fitsRecords refuses an order whose ids are too long for the records it
// makes: a reservation line or an applied-orders entry over maxRecordBody
// could make a record Kafka refuses, and the whole batch, and its
// partition, would be stuck behind it. Such an order goes to the
// dead-letter topic instead.
func fitsRecords(order contracts.Order, correlationID string) error {
	for i, line := range order.Products {
		if n := len(order.OrderID) + 2*len(line.ProductID) + len(correlationID) + 200; n > maxRecordBody {
			return kafka.Permanent(fmt.Errorf("order line %d needs %d bytes in the inventory's records, at most %d fit: ids too long",
				i, n, maxRecordBody))
		}
	}
	return nil
}

// partitionState is what the owner of a reservation partition keeps: its
// products' state and the orders applied to them, and where it publishes.
type partitionState struct {
	partition int32
	out       kafka.Publisher
	ledger    *inventory.Ledger
	orders    *inventory.Orders
}

// openApply restores the state of a reservation partition's products and
// the orders applied to them, and returns the handler that applies its
// reservations.
func (p *Pipeline) openApply(ctx context.Context, c kafka.Claim) (kafka.BatchHandler, error) {
	ledger, err := inventory.NewLedger(p.set.Initial, p.set.Policy)
	if err != nil {
		return nil, err
	}
	partition := c.Partition
	st := &partitionState{partition: partition, out: c.Out, ledger: ledger, orders: inventory.NewOrders(p.set.Orders)}
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
	now := p.set.Now()
	m, err := p.reader.ReadPartition(ctx, p.set.Topics.AppliedOrders, partition, func(m *kafka.Message) error {
		lines, err := decodeAppliedOrders(m)
		if err != nil {
			return err
		}
		for _, l := range lines {
			st.orders.Restore(l.OrderID, l.ProductID, inventory.Applied{
				Source: inventory.Source{Partition: l.OrderPartition, Offset: l.OrderOffset},
				Line:   l.Line, At: time.UnixMilli(l.At)}, now)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("restore applied orders: %w", err)
	}
	entries, bytes := st.orders.Len()
	p.log.Info("stock restored", zap.String("topic", p.set.Topics.Reservations), zap.Int32("partition", partition),
		zap.Int("products", len(products)), zap.Int("records", n), zap.Int("applied_orders", entries),
		zap.Int("applied_orders_bytes", bytes), zap.Int("applied_orders_records", m), zap.Duration("took", time.Since(started)))
	return func(ctx context.Context, msgs []*kafka.Message) error {
		return p.apply(ctx, st, msgs)
	}, nil
}

// maxPendingEvents bounds the event records apply holds before sending
// them on into the batch's transaction.
const maxPendingEvents = 2000

// apply applies a batch of reservations and publishes their events, the
// dead-letter records of poison ones, the new state of every product they
// changed and the orders they applied, all in the batch's transaction. A
// line of an order that the window holds as applied to its product is
// skipped.
func (p *Pipeline) apply(ctx context.Context, st *partitionState, msgs []*kafka.Message) error {
	now := p.set.Now()
	out := make([]kafka.Record, 0, 2*len(msgs))
	changed := make(map[string]bool)
	var applied appliedOrdersBuilder
	for _, m := range msgs {
		rs, from, err := decodeReservations(m)
		if err != nil {
			out = append(out, p.deadLetter(ctx, m, err))
			continue
		}
		for i, r := range rs {
			if first, ok := st.orders.Admit(r, now); !ok {
				p.log.Info("order placed again, line skipped", zap.String("order_id", r.OrderID),
					zap.String("product_id", r.ProductID), zap.Int("line", r.Line),
					zap.Int32("order_partition", r.Source.Partition), zap.Int64("order_offset", r.Source.Offset),
					zap.Int32("first_partition", first.Partition), zap.Int64("first_offset", first.Offset))
				continue
			}
			applied.add(r, now)
			recs, err := p.applyOne(ctx, st.ledger, m, r, from[i], changed)
			if err != nil {
				return err
			}
			out = append(out, recs...)
		}
		// A record holds a whole batch of orders' lines for its product,
		// so a batch of records can make many events: send them on as they
		// pile up rather than hold them all.
		if len(out) >= maxPendingEvents {
			if err := st.out.Publish(ctx, out...); err != nil {
				return err
			}
			out = out[:0]
		}
	}
	for id := range changed {
		product, _ := st.ledger.Product(id)
		out = append(out, stockRecord(p.set.Topics.Stock, id, product).OnPartition(st.partition))
	}
	out = append(out, applied.records(p.set.Topics.AppliedOrders, st.partition)...)
	return st.out.Publish(ctx, out...)
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
	// A transaction that aborts makes this line apply again, with the same
	// outcome; a reader that reads uncommitted records (a tutorial's
	// service) sees both attempts. The events carry the same ids both
	// times, so that readers dropping repeats by event id drop them.
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

func (p *Pipeline) deadLetter(ctx context.Context, m *kafka.Message, err error) kafka.Record {
	p.log.Warn("message dead-lettered", zap.String("topic", m.Topic), zap.Int32("partition", m.Partition),
		zap.Int64("offset", m.Offset), zap.String("dead_letter_topic", p.dead.Topic), zap.Error(err), logging.Trace(ctx))
	return p.dead.Record(ctx, m, err)
}
