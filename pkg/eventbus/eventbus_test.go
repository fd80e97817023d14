package eventbus_test

import (
	"context"
	"errors"
	"regexp"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
	"github.com/eventshop/eventshop/pkg/kafka"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewIDIsARandomUUID(t *testing.T) {
	t.Parallel()
	a, b := eventbus.NewID(), eventbus.NewID()
	if !uuidRE.MatchString(a) || !uuidRE.MatchString(b) {
		t.Fatalf("NewID() = %q, %q; want version 4 UUIDs", a, b)
	}
	if a == b {
		t.Fatalf("NewID() returned %q twice", a)
	}
}

func TestStableIDDependsOnlyOnItsParts(t *testing.T) {
	t.Parallel()
	id := eventbus.StableID("orders", "3", "1207", "0")
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(id) {
		t.Fatalf("StableID = %q, want a version 5 UUID", id)
	}
	if again := eventbus.StableID("orders", "3", "1207", "0"); again != id {
		t.Errorf("the same parts gave %q, then %q", id, again)
	}
	for _, parts := range [][]string{
		{"orders", "3", "1207", "1"},
		{"orders", "3", "120", "70"},
		{"orders", "31", "207", "0"},
		{"orders", "3", "1207"},
	} {
		if other := eventbus.StableID(parts...); other == id {
			t.Errorf("StableID(%q) = %q, the same as for other parts", parts, other)
		}
	}
}

func TestPublishEncodesKeysAndHeadersOneBatch(t *testing.T) {
	t.Parallel()
	rec := &eventbustest.Records{}
	pub := eventbus.NewPublisher(rec, "order-service")
	order := contracts.SampleOrder()
	action := contracts.LoggingAction{ServiceName: contracts.ServiceOrder, Action: contracts.ActionNewOrder}

	ctx := correlation.With(context.Background(), "corr-42")
	if err := pub.Publish(ctx, order, action); err != nil {
		t.Fatal(err)
	}
	batches := rec.Calls()
	if len(batches) != 1 || len(batches[0]) != 2 {
		t.Fatalf("batches = %v, want one batch of two records", batches)
	}
	wantBody, _ := contracts.Encode(order)
	tests := []struct {
		rec                   kafka.Record
		topic, key, eventType string
	}{
		{batches[0][0], contracts.TopicNewOrder, "ORDER-123", contracts.EventTypeNewOrder},
		{batches[0][1], contracts.TopicNewLoggingAction, "order-service", contracts.EventTypeLoggingAction},
	}
	ids := map[string]bool{}
	for _, tc := range tests {
		r := tc.rec
		if r.Topic != tc.topic || string(r.Key) != tc.key {
			t.Errorf("record on %s key %q, want %s key %q", r.Topic, r.Key, tc.topic, tc.key)
		}
		h := r.Headers
		if h[contracts.HeaderCorrelationID] != "corr-42" || h[contracts.HeaderEventType] != tc.eventType ||
			h[contracts.HeaderSchemaVersion] != contracts.SchemaVersion || h[contracts.HeaderSourceService] != "order-service" {
			t.Errorf("headers = %v", h)
		}
		if _, err := time.Parse(time.RFC3339Nano, h[contracts.HeaderProducedAt]); err != nil {
			t.Errorf("produced-at: %v", err)
		}
		if !uuidRE.MatchString(h[contracts.HeaderEventID]) || ids[h[contracts.HeaderEventID]] {
			t.Errorf("event-id %q is not a fresh UUID", h[contracts.HeaderEventID])
		}
		ids[h[contracts.HeaderEventID]] = true
	}
	if string(batches[0][0].Value) != string(wantBody) {
		t.Errorf("body = %s, want %s", batches[0][0].Value, wantBody)
	}
}

func TestPublishWithoutCorrelationSharesAFreshOne(t *testing.T) {
	t.Parallel()
	rec := &eventbustest.Records{}
	pub := eventbus.NewPublisher(rec, "inventory-service")
	err := pub.Publish(context.Background(),
		contracts.InventoryEmpty{ProductID: "P"}, contracts.LoggingAction{ServiceName: "s", Action: "a"})
	if err != nil {
		t.Fatal(err)
	}
	recs := rec.Published()
	a, b := recs[0].Headers[contracts.HeaderCorrelationID], recs[1].Headers[contracts.HeaderCorrelationID]
	if !uuidRE.MatchString(a) || a != b {
		t.Errorf("correlation ids %q and %q, want one fresh UUID for the batch", a, b)
	}
}

func TestPublishRefusesInvalidEventsAndPublishesNothing(t *testing.T) {
	t.Parallel()
	rec := &eventbustest.Records{}
	pub := eventbus.NewPublisher(rec, "s")
	err := pub.Publish(context.Background(), contracts.LoggingAction{ServiceName: "s", Action: "a"}, contracts.InventoryEmpty{})
	if !errors.Is(err, contracts.ErrInvalid) {
		t.Fatalf("err = %v, want contracts.ErrInvalid", err)
	}
	if calls := rec.Calls(); len(calls) != 0 {
		t.Errorf("published %v, want nothing", calls)
	}
}

func TestCorrelate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		headers     map[string]string
		want        string // "" means: a fresh UUID
		wantEventID string
	}{
		{"correlation id header", map[string]string{contracts.HeaderCorrelationID: "c", contracts.HeaderEventID: "e"}, "c", "e"},
		{"event id when no correlation id", map[string]string{contracts.HeaderEventID: "e"}, "e", "e"},
		{"correlation id without an event id", map[string]string{contracts.HeaderCorrelationID: "c"}, "c", ""},
		{"fresh id for a record without headers, as kafkajs sends", nil, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var got, gotEventID string
			h := eventbus.Correlate()(func(ctx context.Context, _ *kafka.Message) error {
				got, gotEventID = correlation.ID(ctx), correlation.EventID(ctx)
				return nil
			})
			if err := h(context.Background(), &kafka.Message{Headers: tc.headers}); err != nil {
				t.Fatal(err)
			}
			if tc.want == "" && !uuidRE.MatchString(got) || tc.want != "" && got != tc.want {
				t.Errorf("correlation id = %q, want %q", got, tc.want)
			}
			if gotEventID != tc.wantEventID {
				t.Errorf("event id = %q, want %q", gotEventID, tc.wantEventID)
			}
		})
	}
}

func TestHandle(t *testing.T) {
	t.Parallel()
	errDown := errors.New("downstream away")
	tests := []struct {
		name          string
		body          string
		fnErr         error
		wantCalled    bool
		wantErr       bool
		wantPermanent bool
	}{
		{name: "valid body reaches the handler", body: `{"productId":"P-1"}`, wantCalled: true},
		{name: "body that is not JSON is permanent", body: `{oops`, wantErr: true, wantPermanent: true},
		{name: "body that breaks the contract is permanent", body: `{"productId":""}`, wantErr: true, wantPermanent: true},
		{name: "handler's transient error stays transient", body: `{"productId":"P-1"}`, fnErr: errDown, wantCalled: true, wantErr: true},
		{name: "handler's contract error is permanent", body: `{"productId":"P-1"}`, fnErr: contracts.ErrInvalid, wantCalled: true, wantErr: true, wantPermanent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			called := false
			h := eventbus.Handle(contracts.DecodeInventoryEmpty, func(_ context.Context, e contracts.InventoryEmpty) error {
				called = true
				if e.ProductID != "P-1" {
					t.Errorf("ProductID = %q", e.ProductID)
				}
				return tc.fnErr
			})
			err := h(context.Background(), &kafka.Message{Topic: contracts.TopicInventoryEmpty, Value: []byte(tc.body)})
			if called != tc.wantCalled || (err != nil) != tc.wantErr || kafka.IsPermanent(err) != tc.wantPermanent {
				t.Errorf("called=%v err=%v permanent=%v; want called=%v error=%v permanent=%v",
					called, err, kafka.IsPermanent(err), tc.wantCalled, tc.wantErr, tc.wantPermanent)
			}
		})
	}
}

func TestRoute(t *testing.T) {
	t.Parallel()
	var got []string
	h := eventbus.Route(map[string]kafka.Handler{
		"a": func(context.Context, *kafka.Message) error { got = append(got, "a"); return nil },
		"b": func(context.Context, *kafka.Message) error { got = append(got, "b"); return nil },
	})
	for _, topic := range []string{"b", "a"} {
		if err := h(context.Background(), &kafka.Message{Topic: topic}); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 2 || got[0] != "b" || got[1] != "a" {
		t.Errorf("routed to %v, want [b a]", got)
	}
	if err := h(context.Background(), &kafka.Message{Topic: "c"}); !kafka.IsPermanent(err) {
		t.Errorf("unknown topic: err = %v, want a permanent error", err)
	}
}

// TestRecordsCarryTheTraceOfTheirContext: records made in a traced context
// carry its W3C trace context, so that they are sent as part of its trace
// even in a batch published with another context; others carry none.
func TestRecordsCarryTheTraceOfTheirContext(t *testing.T) {
	t.Parallel()
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	pub := eventbus.NewPublisher(&eventbustest.Records{}, "s")
	for ctx, want := range map[context.Context]string{
		trace.ContextWithSpanContext(context.Background(), sc): "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		context.Background(): "",
	} {
		recs, err := pub.Records(ctx, contracts.InventoryEmpty{ProductID: "P"})
		if err != nil {
			t.Fatal(err)
		}
		if got := recs[0].Headers["traceparent"]; got != want {
			t.Errorf("traceparent %q, want %q", got, want)
		}
	}
}
