package pipeline

import (
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"fmt"
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
	// OrderIDs is the changelog of the order ids seen, keyed by order id:
	// partition for partition, the orders of Orders.
	OrderIDs string
}

// TopicsFor returns the topics of the inventory run by consumer group
// group. Its own topics are named after the group, as Kafka Streams names
// an application's internal topics, so that two groups never share state.
func TopicsFor(group string) Topics {
	return Topics{
		Orders:       contracts.TopicNewOrder,
		Reservations: group + "-reservations",
		Stock:        group + "-stock-changelog",
		OrderIDs:     group + "-order-ids-changelog",
	}
}

// reservation is a Reservation on the wire.
type reservation struct {
	OrderID        string `json:"orderId"`
	Line           int    `json:"line"`
	ProductID      string `json:"productId"`
	Quantity       int    `json:"quantity"`
	OrderPartition int32  `json:"orderPartition"`
	OrderOffset    int64  `json:"orderOffset"`
}

// reservationRecord returns r as a record of topic, keyed by product, with
// the order's correlation id. It writes the JSON by hand: it is made for
// every order line, and encoding/json's reflection was a quarter of the
// split's cost.
func reservationRecord(topic string, r inventory.Reservation, correlationID string) kafka.Record {
	b := make([]byte, 0, 96+len(r.OrderID)+len(r.ProductID))
	b = append(b, `{"orderId":`...)
	b = appendString(b, r.OrderID)
	b = append(b, `,"line":`...)
	b = strconv.AppendInt(b, int64(r.Line), 10)
	b = append(b, `,"productId":`...)
	b = appendString(b, r.ProductID)
	b = append(b, `,"quantity":`...)
	b = strconv.AppendInt(b, int64(r.Quantity), 10)
	b = append(b, `,"orderPartition":`...)
	b = strconv.AppendInt(b, int64(r.Source.Partition), 10)
	b = append(b, `,"orderOffset":`...)
	b = strconv.AppendInt(b, r.Source.Offset, 10)
	b = append(b, '}')
	return kafka.Record{
		Topic:   topic,
		Key:     []byte(r.ProductID),
		Value:   b,
		Headers: map[string]string{contracts.HeaderCorrelationID: correlationID},
	}
}

// appendString appends s as a JSON string. Ids come from validated orders,
// which hold valid UTF-8, so quoting cannot fail.
func appendString(b []byte, s string) []byte {
	b, _ = jsontext.AppendQuote(b, s)
	return b
}

// decodeReservation reads a reservation record; an error means it can never
// be applied.
func decodeReservation(m *kafka.Message) (inventory.Reservation, error) {
	var w reservation
	if err := jsonv2.Unmarshal(m.Value, &w); err != nil {
		return inventory.Reservation{}, fmt.Errorf("decode reservation: %w", err)
	}
	if w.OrderID == "" || w.ProductID == "" || w.Quantity < 1 || w.Line < 0 || w.OrderOffset < 0 {
		return inventory.Reservation{}, fmt.Errorf("decode reservation: incomplete: %s", m.Value)
	}
	return inventory.Reservation{
		OrderID: w.OrderID, Line: w.Line, ProductID: w.ProductID, Quantity: w.Quantity,
		Source: inventory.Source{Partition: w.OrderPartition, Offset: w.OrderOffset},
	}, nil
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

// orderID is an order id seen, as its changelog record: where its first
// record is, and when it was made.
type orderID struct {
	Offset int64 `json:"offset"`
	At     int64 `json:"at"` // unix milliseconds
}

func orderIDRecord(topic, id string, offset int64, at time.Time) kafka.Record {
	body := []byte(`{"offset":` + strconv.FormatInt(offset, 10) + `,"at":` + strconv.FormatInt(at.UnixMilli(), 10) + `}`)
	return kafka.Record{Topic: topic, Key: []byte(id), Value: body}
}

func decodeOrderID(m *kafka.Message) (string, int64, time.Time, error) {
	var o orderID
	if err := json.Unmarshal(m.Value, &o); err != nil {
		return "", 0, time.Time{}, fmt.Errorf("decode order id %q at %s/%d@%d: %w", m.Key, m.Topic, m.Partition, m.Offset, err)
	}
	return string(m.Key), o.Offset, time.UnixMilli(o.At), nil
}
