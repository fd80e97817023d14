package main

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// hugeValue is the size of the poison scenario's largest records: near the
// broker's default limit of 1 MiB a record.
const hugeValue = 1_000_000

// poisonKinds are the ways the poison scenario spoils a record.
var poisonKinds = []string{"random bytes", "truncated JSON", "wrong types", "missing fields", "another topic's event", "1 MB value"}

// readersOf names the consumer groups, by service, that read each topic
// and so must each dead-letter a malformed record of it.
var readersOf = map[string][]string{
	contracts.TopicNewOrder:         {contracts.ServiceInventory, contracts.ServiceNotification},
	contracts.TopicNewLoggingAction: {contracts.ServiceLogging},
	contracts.TopicInventoryEmpty:   {contracts.ServiceNotification},
}

// poisonRecord is a record the scenario wrote, and where it landed.
type poisonRecord struct {
	msg  *sarama.ProducerMessage
	kind string // "" for a valid record
	// id is what tells a valid record's handling: a logging action's event
	// id, a refill notice's product id.
	id string
}

// runPoison writes malformed records on the three topics, interleaved with
// valid orders, logging actions and refill notices, while the shop runs.
// Every malformed record must reach dead-letter-topic once per group that
// reads it, with its reason and origin, and every valid one must be handled.
func runPoison(ctx context.Context, r *chaosRun) (o outcome, err error) {
	s, stop, err := r.scenario(ctx, "poison")
	if err != nil {
		return o, err
	}
	defer func() { err = errors.Join(err, stop()) }()

	start := time.Now()
	recs, orderIDs, err := poisonWorkload(ctx, s.tb, r.opts.poison, r.opts.orders)
	if err != nil {
		return o, err
	}
	if err := writeRecords(ctx, s.tb, recs); err != nil {
		return o, err
	}
	if err := s.settle(ctx, orderIDs, r.settleTimeout()); err != nil {
		return o, err
	}
	p, err := s.readPublished(ctx)
	if err != nil {
		return o, err
	}
	s.account(&o, p, orderIDs)
	o.elapsed = time.Since(start)

	// Each malformed record once per group that reads its topic, with the
	// error that refused it.
	type origin struct {
		topic     string
		partition int32
		offset    int64
		group     string
	}
	dead := map[origin]string{}
	for _, m := range p.deadLetters {
		part, _ := strconv.ParseInt(m.Header(kafka.HeaderDLTOriginPartition), 10, 32)
		off, _ := strconv.ParseInt(m.Header(kafka.HeaderDLTOriginOffset), 10, 64)
		dead[origin{m.Header(kafka.HeaderDLTOriginTopic), int32(part), off, m.Header(kafka.HeaderDLTConsumerGroup)}] = m.Header(kafka.HeaderDLTError)
	}
	kinds := map[string]int{}
	var missing []string
	valid := map[string]int{} // valid records other than orders, by topic
	for _, rec := range recs {
		if rec.kind == "" {
			valid[rec.msg.Topic]++
			continue
		}
		o.sent++
		kinds[rec.kind]++
		all := true
		for _, name := range readersOf[rec.msg.Topic] {
			reason, ok := dead[origin{rec.msg.Topic, rec.msg.Partition, rec.msg.Offset, s.tb.group(name)}]
			all = all && ok && reason != ""
		}
		if all {
			o.deadLettered++
			continue
		}
		o.lost++
		if len(missing) < 3 {
			missing = append(missing, fmt.Sprintf("%s on %s/%d@%d", rec.kind, rec.msg.Topic, rec.msg.Partition, rec.msg.Offset))
		}
	}
	if len(missing) > 0 {
		o.fail("%d malformed records not dead-lettered by every group that reads them, e.g. %s", len(missing), strings.Join(missing, "; "))
	}
	var kindCounts []string
	for _, k := range poisonKinds {
		kindCounts = append(kindCounts, fmt.Sprintf("%d %s", kinds[k], k))
	}
	o.note("malformed: %s", strings.Join(kindCounts, ", "))

	// Valid actions and refill notices written by the harness.
	s.tally.mu.Lock()
	var unhandled int
	for _, rec := range recs {
		if rec.kind != "" || rec.msg.Topic == contracts.TopicNewOrder {
			continue
		}
		o.sent++
		handled := false
		switch rec.msg.Topic {
		case contracts.TopicNewLoggingAction:
			n := s.tally.logged[rec.id]
			handled = n > 0
			o.duplicated += max(0, n-1)
		case contracts.TopicInventoryEmpty:
			n := s.tally.refills[rec.id]
			handled = n > 0
			o.duplicated += max(0, n-1)
		}
		if handled {
			o.processed++
		} else {
			o.lost++
			unhandled++
		}
	}
	s.tally.mu.Unlock()
	if unhandled > 0 {
		o.fail("%d valid logging actions or refill notices were not handled", unhandled)
	}
	o.note("valid: %d orders, %d logging actions, %d refill notices, interleaved",
		len(orderIDs), valid[contracts.TopicNewLoggingAction], valid[contracts.TopicInventoryEmpty])
	if prog, err := s.tb.cluster.progress(s.tb.group("")); err == nil && prog.lag > 0 {
		o.fail("%d records left unconsumed: a partition stalled", prog.lag)
	}
	return o, nil
}

// poisonWorkload returns n malformed records spread over the three topics,
// shuffled among valid ones: orders (nOrders of them, their ids returned),
// and a logging action and a refill notice for every tenth order.
func poisonWorkload(ctx context.Context, tb *testbed, n, nOrders int) ([]poisonRecord, []string, error) {
	pub := eventbus.NewPublisher(nil, "chaos")
	var recs []poisonRecord
	var ids []string
	add := func(corr string, e contracts.Event, id string) error {
		rs, err := pub.Records(correlation.With(ctx, corr), e)
		if err != nil {
			return err
		}
		if id == "" {
			id = rs[0].Headers[contracts.HeaderEventID]
		}
		recs = append(recs, poisonRecord{msg: toSarama(rs[0]), id: id})
		return nil
	}
	for i := range nOrders {
		o := tb.sampleOrder(i)
		corr := tb.correlationID(i)
		if err := add(corr, o, o.OrderID); err != nil {
			return nil, nil, err
		}
		ids = append(ids, o.OrderID)
		if i%10 == 0 {
			// Correlated apart from the order, so that they count on their own.
			product := fmt.Sprintf("PRODUCT-%s-%d", tb.run, i)
			err := errors.Join(
				add(corr+"-check", contracts.LoggingAction{ServiceName: "chaos", Action: "poison-check"}, ""),
				add(corr+"-check", contracts.InventoryEmpty{ProductID: product}, product),
			)
			if err != nil {
				return nil, nil, err
			}
		}
	}
	topics := []string{contracts.TopicNewOrder, contracts.TopicNewLoggingAction, contracts.TopicInventoryEmpty}
	for i := range n {
		// One huge record in every 2,000, and at least one.
		kind := poisonKinds[i%(len(poisonKinds)-1)]
		if i%2000 == 0 {
			kind = "1 MB value"
		}
		topic := topics[i%len(topics)]
		recs = append(recs, poisonRecord{kind: kind, msg: &sarama.ProducerMessage{
			Topic: topic,
			Key:   sarama.StringEncoder(fmt.Sprintf("poison-%s-%d", tb.run, i)),
			Value: sarama.ByteEncoder(spoil(kind, topic, i)),
		}})
	}
	rand.Shuffle(len(recs), func(i, j int) { recs[i], recs[j] = recs[j], recs[i] })
	return recs, ids, nil
}

// spoil returns a value of the kind for topic that no consumer of it
// accepts.
func spoil(kind, topic string, i int) []byte {
	switch kind {
	case "random bytes":
		b := make([]byte, 1+rand.IntN(200))
		crand.Read(b)
		b[0] = 0xff // never valid JSON
		return b
	case "truncated JSON":
		whole := fmt.Sprintf(`{"orderId":"ORDER-%d","customerId":"CUSTOMER-%d","serviceName":"s","action":"a","productId":"P-%d","products":[{"productId":"P","quantity":1,"price":1}]}`, i, i, i)
		return []byte(whole[:len(whole)/2])
	case "wrong types":
		switch topic {
		case contracts.TopicNewOrder:
			return []byte(`{"orderId":5,"customerId":true,"products":"none"}`)
		case contracts.TopicNewLoggingAction:
			return []byte(`{"serviceName":["a"],"action":{}}`)
		default:
			return []byte(`{"productId":12.5}`)
		}
	case "missing fields":
		switch topic {
		case contracts.TopicNewOrder:
			return []byte(`{"customerId":"CUSTOMER-1"}`)
		case contracts.TopicNewLoggingAction:
			return []byte(`{"serviceName":"chaos"}`)
		default:
			return []byte(`{}`)
		}
	case "another topic's event":
		switch topic {
		case contracts.TopicNewOrder:
			return []byte(`{"serviceName":"order-service","action":"new-order"}`)
		case contracts.TopicNewLoggingAction:
			return []byte(`{"productId":"PRODUCT-123"}`)
		default:
			return []byte(`{"orderId":"ORDER-1","customerId":"CUSTOMER-1","products":[{"productId":"P","quantity":1,"price":1}]}`)
		}
	default: // 1 MB value: not JSON, and too large to dead-letter whole
		b := make([]byte, hugeValue)
		for j := range b {
			b[j] = 'x'
		}
		return b
	}
}

// toSarama turns a kafka.Record into a producer message with the same
// headers.
func toSarama(r kafka.Record) *sarama.ProducerMessage {
	m := &sarama.ProducerMessage{Topic: r.Topic, Key: sarama.ByteEncoder(r.Key), Value: sarama.ByteEncoder(r.Value)}
	for k, v := range r.Headers {
		m.Headers = append(m.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	return m
}

// writeRecords writes recs in their order, in batches, and sets each one's
// partition and offset.
func writeRecords(ctx context.Context, tb *testbed, recs []poisonRecord) error {
	sc := sarama.NewConfig()
	sc.ClientID = "eventshop-chaos"
	sc.Producer.Return.Successes = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.MaxMessageBytes = 1 << 20
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 250 * time.Millisecond
	sc.Net.MaxOpenRequests = 1
	producer, err := sarama.NewSyncProducer(tb.brokers, sc)
	if err != nil {
		return fmt.Errorf("poison producer: %w", err)
	}
	defer producer.Close()
	const batch = 500
	for i := 0; i < len(recs); i += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs := make([]*sarama.ProducerMessage, 0, batch)
		for _, rec := range recs[i:min(i+batch, len(recs))] {
			msgs = append(msgs, rec.msg)
		}
		if err := producer.SendMessages(msgs); err != nil {
			return fmt.Errorf("write poison records: %w", err)
		}
	}
	return nil
}
