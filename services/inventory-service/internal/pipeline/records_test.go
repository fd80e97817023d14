package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// TestReservationsRoundTrip holds the hand-written encoding to the decoder
// and to encoding/json, with ids that need escaping: one record per product,
// its lines in the order they were added, each with its order's origin.
func TestReservationsRoundTrip(t *testing.T) {
	t.Parallel()
	odd := "P-\u00e9\u2028<&>\n"
	in := []inventory.Reservation{
		{OrderID: "ORDER-1", Line: 0, ProductID: "PRODUCT-123", Quantity: 3, Source: inventory.Source{Partition: 5, Offset: 9}},
		{OrderID: `O "quoted" \ back`, Line: 7, ProductID: odd, Quantity: 1 << 40, Source: inventory.Source{Partition: 5, Offset: 1 << 50}},
		{OrderID: "ORDER-2", Line: 1, ProductID: "PRODUCT-123", Quantity: 1, Source: inventory.Source{Partition: 5, Offset: 10}},
	}
	from := []origin{
		{correlationID: "corr-a"},
		{correlationID: "corr-b", trace: map[string]string{
			"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": `k="v"`}},
		{correlationID: "corr-c", trace: map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}},
	}
	b := newReservationBuilder("t", 6)
	for i, r := range in {
		b.add(r, from[i])
	}
	recs := b.records()
	want := map[string][]int{"PRODUCT-123": {0, 2}, odd: {1}}
	if len(recs) != len(want) || string(recs[0].Key) != "PRODUCT-123" || string(recs[1].Key) != odd {
		t.Fatalf("records keyed %q, %q..., want one per product in the order they came", recs[0].Key, recs[len(recs)-1].Key)
	}
	for _, rec := range recs {
		if !json.Valid(rec.Value) {
			t.Fatalf("not JSON: %s", rec.Value)
		}
		got, gotFrom, err := decodeReservations(&kafka.Message{Value: rec.Value})
		if err != nil {
			t.Fatalf("%s: %v", rec.Value, err)
		}
		var wantRs []inventory.Reservation
		var wantFrom []origin
		for _, i := range want[string(rec.Key)] {
			wantRs = append(wantRs, in[i])
			wantFrom = append(wantFrom, from[i])
		}
		sameOrigin := func(a, b origin) bool { return a.correlationID == b.correlationID && maps.Equal(a.trace, b.trace) }
		if !slices.Equal(got, wantRs) || !slices.EqualFunc(gotFrom, wantFrom, sameOrigin) {
			t.Errorf("%s decodes to %+v %+v, want %+v %+v", rec.Value, got, gotFrom, wantRs, wantFrom)
		}
	}
}

func TestAppliedOrdersRoundTrip(t *testing.T) {
	t.Parallel()
	at := time.UnixMilli(1764460800123)
	var b appliedOrdersBuilder
	if recs := b.records("applied", 4); len(recs) != 0 {
		t.Fatalf("an empty batch made %d records", len(recs))
	}
	b.add(inventory.Reservation{OrderID: "ORDER-1", ProductID: "P", Line: 0, Source: inventory.Source{Partition: 2, Offset: 40}}, at)
	b.add(inventory.Reservation{OrderID: `O"2`, ProductID: "Q\n", Line: 3, Source: inventory.Source{Partition: 5, Offset: 41}}, at.Add(time.Second))
	recs := b.records("applied", 4)
	if len(recs) != 1 {
		t.Fatalf("records %v, want one", recs)
	}
	got, err := decodeAppliedOrders(&kafka.Message{Value: recs[0].Value})
	want := []appliedLine{
		{OrderID: "ORDER-1", ProductID: "P", OrderPartition: 2, OrderOffset: 40, Line: 0, At: at.UnixMilli()},
		{OrderID: `O"2`, ProductID: "Q\n", OrderPartition: 5, OrderOffset: 41, Line: 3, At: at.Add(time.Second).UnixMilli()},
	}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("%s decodes to %+v, %v; want %+v", recs[0].Value, got, err, want)
	}
}

// TestReservationsStayOnTheirPartition checks that each product's
// reservations go to the partition murmur2 gives its id with the
// builder's partition count, whatever the topic has when they are sent.
func TestReservationsStayOnTheirPartition(t *testing.T) {
	t.Parallel()
	b := newReservationBuilder("t", 6)
	for i := range 50 {
		b.add(inventory.Reservation{OrderID: "O", ProductID: fmt.Sprint("PRODUCT-", i), Quantity: 1}, origin{})
	}
	for _, r := range b.records() {
		got, explicit := r.Partition()
		if want := kafka.KeyPartition(r.Key, 6); !explicit || got != want {
			t.Errorf("%s goes to partition %d (explicitly: %v), want %d whatever the topic has", r.Key, got, explicit, want)
		}
	}
}

func TestDecodeReservationsRefusesIncompleteRecords(t *testing.T) {
	t.Parallel()
	for _, body := range []string{
		`not json`,
		`{"productId":"P","lines":[]}`,
		`{"lines":[{"orderId":"O","line":0,"quantity":1,"orderPartition":0,"orderOffset":1}]}`,
		`{"productId":"P","lines":[{"orderId":"O","line":0,"quantity":0,"orderPartition":0,"orderOffset":1}]}`,
		`{"productId":"P","lines":[{"line":0,"quantity":1,"orderPartition":0,"orderOffset":1}]}`,
	} {
		if _, _, err := decodeReservations(&kafka.Message{Value: []byte(body)}); err == nil {
			t.Errorf("decodeReservations(%s) = nil error", body)
		}
	}
}

// TestLongBatchesMakeSeveralRecords adds more lines of one product, and more
// order ids, than one record should hold: they come in several records, in
// order, each under the limit.
func TestLongBatchesMakeSeveralRecords(t *testing.T) {
	t.Parallel()
	id := strings.Repeat("O", 1000)
	rb := newReservationBuilder("t", 6)
	var applied appliedOrdersBuilder
	const n = 1000
	for i := range n {
		r := inventory.Reservation{OrderID: id, ProductID: "P", Quantity: 1, Source: inventory.Source{Offset: int64(i)}}
		rb.add(r, origin{correlationID: "c"})
		applied.add(r, time.UnixMilli(0))
	}
	for name, recs := range map[string][]kafka.Record{"reservations": rb.records(), "applied orders": applied.records("applied", 0)} {
		if len(recs) < 3 {
			t.Errorf("%s: %d records for %d entries of over 1 KB each", name, len(recs), n)
		}
		for _, r := range recs {
			if len(r.Value) > 2*maxRecordBody || !json.Valid(r.Value) {
				t.Errorf("%s: a record of %d bytes, valid JSON %v", name, len(r.Value), json.Valid(r.Value))
			}
		}
	}
	next := int64(0)
	for _, r := range rb.records() {
		rs, _, err := decodeReservations(&kafka.Message{Value: r.Value})
		if err != nil {
			t.Fatal(err)
		}
		for _, res := range rs {
			if res.Source.Offset != next {
				t.Fatalf("line of offset %d came after %d", res.Source.Offset, next-1)
			}
			next++
		}
	}
	if next != n {
		t.Errorf("%d lines came back of %d", next, n)
	}
}

// TestSplitDeadLettersAnOrderTooLongForItsRecords splits a batch holding an
// order whose product id alone is longer than a reservations record should
// be: it goes to the dead-letter topic, and the order beside it is split.
func TestSplitDeadLettersAnOrderTooLongForItsRecords(t *testing.T) {
	t.Parallel()
	pub := &eventbustest.Records{}
	p := benchPipeline(pub)
	huge := contracts.SampleOrder()
	huge.OrderID = "HUGE"
	huge.Products[0].ProductID = strings.Repeat("P", 600_000)
	var msgs []*kafka.Message
	for i, o := range []contracts.Order{huge, contracts.SampleOrder()} {
		body, err := contracts.Encode(o)
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, &kafka.Message{Topic: contracts.TopicNewOrder, Offset: int64(i), Value: body, Timestamp: time.Now()})
	}
	if err := p.split(context.Background(), pub, msgs); err != nil {
		t.Fatalf("split: %v", err)
	}
	var dead, reservations int
	for _, r := range pub.Published() {
		switch r.Topic {
		case "dlt":
			dead++
			if r.Headers[kafka.HeaderDLTOriginOffset] != "0" || !strings.Contains(r.Headers[kafka.HeaderDLTError], "ids too long") {
				t.Errorf("dead letter with headers %v", r.Headers)
			}
		case p.set.Topics.Reservations:
			reservations++
			if strings.Contains(string(r.Value), "HUGE") {
				t.Errorf("the huge order's lines were reserved")
			}
		}
		if len(r.Value) > 2*maxRecordBody && r.Topic != "dlt" {
			t.Errorf("a %s record of %d bytes", r.Topic, len(r.Value))
		}
	}
	if dead != 1 || reservations != 2 {
		t.Errorf("%d dead letters and %d reservations records, want 1 and 2 (the sample order's products)", dead, reservations)
	}
}
