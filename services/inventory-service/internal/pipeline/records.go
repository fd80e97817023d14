package pipeline

import (
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// Topics are the inventory's topics: the orders it reads and its own three.
type Topics struct {
	// Orders is new-order-topic.
	Orders string
	// Reservations holds one record per order line, keyed by product id.
	Reservations string
	// Stock is the compacted changelog of the products' state, keyed by
	// product id: partition for partition, the products of Reservations.
	Stock string
	// AppliedOrders is the changelog of the orders applied to each
	// product, for the order window: partition for partition, the products
	// of Reservations.
	AppliedOrders string
}

// TopicsFor returns the topics of the inventory run by consumer group
// group. Its own topics are named after the group, as Kafka Streams names
// an application's internal topics, so that two groups never share state.
func TopicsFor(group string) Topics {
	return Topics{
		Orders:        contracts.TopicNewOrder,
		Reservations:  group + "-reservations",
		Stock:         group + "-stock-changelog",
		AppliedOrders: group + "-applied-orders-changelog",
	}
}

// A reservations record carries the reservations of one product that one
// batch of orders made, in order, each with its order's correlation id and,
// when the inventory traces, the W3C trace context of its order's split
// (the record's own headers can name only one):
//
//	{"productId":"P","lines":[{"orderId":"O","line":0,"quantity":3,
//	  "orderPartition":2,"orderOffset":41,"correlationId":"c",
//	  "trace":{"traceparent":"00-..."}}, ...]}
//
// One record per product and batch rather than per line: the records are
// what producer, broker and consumer each pay for.
type reservations struct {
	ProductID string            `json:"productId"`
	Lines     []reservationLine `json:"lines"`
}

type reservationLine struct {
	OrderID        string            `json:"orderId"`
	Line           int               `json:"line"`
	Quantity       int               `json:"quantity"`
	OrderPartition int32             `json:"orderPartition"`
	OrderOffset    int64             `json:"orderOffset"`
	CorrelationID  string            `json:"correlationId"`
	Trace          map[string]string `json:"trace,omitempty"`
}

// origin is what a reservation line carries of the order it came from:
// the order's correlation id and the trace context it was split in.
type origin struct {
	correlationID string
	trace         map[string]string
}

// reservationBuilder gathers a batch's reservations by product, in the
// order the products first come, for a topic of partitions partitions.
type reservationBuilder struct {
	topic      string
	partitions int32
	products   []string
	bodies     map[string][]byte
	done       []kafka.Record // records that reached maxRecordBody
}

// maxRecordBody is where a record that gathers lines or ids is closed and
// the next one begun, well below the 1 MB a record may take.
const maxRecordBody = 256 << 10

func newReservationBuilder(topic string, partitions int32) *reservationBuilder {
	return &reservationBuilder{topic: topic, partitions: partitions, bodies: make(map[string][]byte)}
}

// add appends r, made from the order from. It writes the JSON by hand: it
// runs for every order line, and encoding/json's reflection was a quarter
// of the split's cost.
func (b *reservationBuilder) add(r inventory.Reservation, from origin) {
	body, ok := b.bodies[r.ProductID]
	if ok && len(body) > maxRecordBody {
		b.done = append(b.done, b.record(r.ProductID, body))
		body, ok = nil, false
	} else if !ok {
		b.products = append(b.products, r.ProductID)
	}
	if !ok {
		body = append(make([]byte, 0, 256), `{"productId":`...)
		body = appendString(body, r.ProductID)
		body = append(body, `,"lines":[`...)
	} else {
		body = append(body, ',')
	}
	body = append(body, `{"orderId":`...)
	body = appendString(body, r.OrderID)
	body = append(body, `,"line":`...)
	body = strconv.AppendInt(body, int64(r.Line), 10)
	body = append(body, `,"quantity":`...)
	body = strconv.AppendInt(body, int64(r.Quantity), 10)
	body = append(body, `,"orderPartition":`...)
	body = strconv.AppendInt(body, int64(r.Source.Partition), 10)
	body = append(body, `,"orderOffset":`...)
	body = strconv.AppendInt(body, r.Source.Offset, 10)
	body = append(body, `,"correlationId":`...)
	body = appendString(body, from.correlationID)
	if len(from.trace) > 0 {
		body = append(body, `,"trace":{`...)
		for i, k := range slices.Sorted(maps.Keys(from.trace)) {
			if i > 0 {
				body = append(body, ',')
			}
			body = appendString(body, k)
			body = append(body, ':')
			body = appendString(body, from.trace[k])
		}
		body = append(body, '}')
	}
	b.bodies[r.ProductID] = append(body, '}')
}

// records returns the records of the reservations added, keyed by product
// id: one per product, or more for a product whose lines outgrew one, in
// the order of its lines. Each goes to the partition its key has with the
// builder's partition count, whatever the topic has now.
func (b *reservationBuilder) records() []kafka.Record {
	recs := b.done
	for _, id := range b.products {
		if body, ok := b.bodies[id]; ok {
			recs = append(recs, b.record(id, body))
		}
	}
	return recs
}

func (b *reservationBuilder) record(productID string, body []byte) kafka.Record {
	key := []byte(productID)
	return kafka.Record{Topic: b.topic, Key: key, Value: append(body, "]}"...)}.OnPartition(kafka.KeyPartition(key, b.partitions))
}

// appendString appends s as a JSON string. Ids come from validated orders,
// which hold valid UTF-8, so quoting cannot fail.
func appendString(b []byte, s string) []byte {
	b, _ = jsontext.AppendQuote(b, s)
	return b
}

// decodeReservations reads a reservations record into its reservations and
// their origins; an error means it can never be applied.
func decodeReservations(m *kafka.Message) ([]inventory.Reservation, []origin, error) {
	var w reservations
	if err := jsonv2.Unmarshal(m.Value, &w); err != nil {
		return nil, nil, fmt.Errorf("decode reservations: %w", err)
	}
	if w.ProductID == "" || len(w.Lines) == 0 {
		return nil, nil, fmt.Errorf("decode reservations: no product or no lines: %.200s", m.Value)
	}
	rs := make([]inventory.Reservation, len(w.Lines))
	from := make([]origin, len(w.Lines))
	for i, l := range w.Lines {
		if l.OrderID == "" || l.Quantity < 1 || l.Line < 0 || l.OrderOffset < 0 {
			return nil, nil, fmt.Errorf("decode reservations: line %d incomplete: %.200s", i, m.Value)
		}
		rs[i] = inventory.Reservation{
			OrderID: l.OrderID, Line: l.Line, ProductID: w.ProductID, Quantity: l.Quantity,
			Source: inventory.Source{Partition: l.OrderPartition, Offset: l.OrderOffset},
		}
		from[i] = origin{correlationID: l.CorrelationID, trace: l.Trace}
	}
	return rs, from, nil
}

// stockRecord is a product's state as its changelog record.
func stockRecord(topic, productID string, p inventory.Product) kafka.Record {
	body, _ := json.Marshal(p) // ints and a map keyed by ints always encode
	return kafka.Record{Topic: topic, Key: []byte(productID), Value: body}
}

func decodeStock(m *kafka.Message) (string, inventory.Product, error) {
	var p inventory.Product
	if err := json.Unmarshal(m.Value, &p); err != nil {
		return "", p, fmt.Errorf("decode stock of %q at %s/%d@%d: %w", m.Key, m.Topic, m.Partition, m.Offset, err)
	}
	return string(m.Key), p, nil
}

// An applied-orders record lists, for one batch of a reservation
// partition, the orders whose lines it applied to each product, where each
// order was read and when its line was applied (the service's clock):
//
//	{"lines":[{"orderId":"O","productId":"P","orderPartition":2,
//	  "orderOffset":41,"line":0,"at":1733616000000}, ...]}
//
// It goes to the partition of the applied-orders changelog that matches the
// reservation partition.
type appliedOrders struct {
	Lines []appliedLine `json:"lines"`
}

type appliedLine struct {
	OrderID        string `json:"orderId"`
	ProductID      string `json:"productId"`
	OrderPartition int32  `json:"orderPartition"`
	OrderOffset    int64  `json:"orderOffset"`
	Line           int    `json:"line"`
	At             int64  `json:"at"` // unix milliseconds
}

// appliedOrdersBuilder gathers the applied lines of one batch, in records
// of up to about maxRecordBody.
type appliedOrdersBuilder struct {
	bodies [][]byte
}

func (b *appliedOrdersBuilder) add(r inventory.Reservation, at time.Time) {
	last := len(b.bodies) - 1
	if last < 0 || len(b.bodies[last]) > maxRecordBody {
		b.bodies = append(b.bodies, []byte(`{"lines":[`))
		last++
	} else {
		b.bodies[last] = append(b.bodies[last], ',')
	}
	body := append(b.bodies[last], `{"orderId":`...)
	body = appendString(body, r.OrderID)
	body = append(body, `,"productId":`...)
	body = appendString(body, r.ProductID)
	body = append(body, `,"orderPartition":`...)
	body = strconv.AppendInt(body, int64(r.Source.Partition), 10)
	body = append(body, `,"orderOffset":`...)
	body = strconv.AppendInt(body, r.Source.Offset, 10)
	body = append(body, `,"line":`...)
	body = strconv.AppendInt(body, int64(r.Line), 10)
	body = append(body, `,"at":`...)
	body = strconv.AppendInt(body, at.UnixMilli(), 10)
	b.bodies[last] = append(body, '}')
}

// records returns the batch's records for partition of topic.
func (b *appliedOrdersBuilder) records(topic string, partition int32) []kafka.Record {
	recs := make([]kafka.Record, len(b.bodies))
	for i, body := range b.bodies {
		recs[i] = kafka.Record{Topic: topic, Value: append(body, "]}"...)}.OnPartition(partition)
	}
	return recs
}

func decodeAppliedOrders(m *kafka.Message) ([]appliedLine, error) {
	var w appliedOrders
	if err := jsonv2.Unmarshal(m.Value, &w); err != nil {
		return nil, fmt.Errorf("decode applied orders at %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err)
	}
	return w.Lines, nil
}
