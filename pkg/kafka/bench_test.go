package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// BenchmarkPerMessagePath is the consumer's own cost per message, without
// the network: converting sarama's message and passing it through the
// standard middleware to a handler that does nothing.
func BenchmarkPerMessagePath(b *testing.B) {
	h := Chain(func(context.Context, *Message) error { return nil },
		DeadLetter(nil, "dlt", "group", zap.NewNop()),
		Retry(DefaultRetryPolicy(), zap.NewNop()),
		Recover(zap.NewNop()),
	)
	cm := &sarama.ConsumerMessage{
		Topic: "new-order-topic", Partition: 3, Offset: 42, Timestamp: time.Now(),
		Key:   []byte("ORDER-123"),
		Value: []byte(`{"orderId":"ORDER-123","customerId":"CUSTOMER-123","products":[{"productId":"PRODUCT-123","quantity":3,"totalPrice":80}]}`),
		Headers: []*sarama.RecordHeader{
			{Key: []byte("event-id"), Value: []byte("5f0c1f4e-8d4f-4c8e-9a57-0b5e1a0c1d2e")},
			{Key: []byte("correlation-id"), Value: []byte("5f0c1f4e-8d4f-4c8e-9a57-0b5e1a0c1d2e")},
			{Key: []byte("event-type"), Value: []byte("new-order")},
		},
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := h(ctx, messageFromSarama(cm)); err != nil {
			b.Fatal(err)
		}
	}
}
