package kafkatest

import (
	"context"
	"testing"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// Publisher publishes to a test's cluster through a producer of its own and
// fails the test on any error. The events it encodes name "test" as the
// service that produced them.
type Publisher struct {
	tb       testing.TB
	producer *kafka.Producer
	events   *eventbus.Publisher
}

// NewPublisher returns a Publisher to the cluster of cfg. Its producer is
// closed when the test ends.
func NewPublisher(tb testing.TB, cfg kafka.Config) *Publisher {
	tb.Helper()
	producer, err := kafka.NewProducer(cfg)
	if err != nil {
		tb.Fatalf("NewProducer: %v", err)
	}
	tb.Cleanup(func() { _ = producer.Close() })
	return &Publisher{tb: tb, producer: producer, events: eventbus.NewPublisher(producer, "test")}
}

// Records returns the records that would publish events, headers and event
// ids included, without publishing them, so that a test can publish one of
// them more than once or among records of its own.
func (p *Publisher) Records(ctx context.Context, events ...contracts.Event) []kafka.Record {
	p.tb.Helper()
	recs, err := p.events.Records(ctx, events...)
	if err != nil {
		p.tb.Fatalf("Records: %v", err)
	}
	return recs
}

// PublishInOrder publishes recs one at a time, each acknowledged before the
// next is sent, so that they are written in the order given even where they
// go to different partitions.
func (p *Publisher) PublishInOrder(ctx context.Context, recs ...kafka.Record) {
	p.tb.Helper()
	for _, r := range recs {
		if err := p.producer.Publish(ctx, r); err != nil {
			p.tb.Fatalf("publish to %s: %v", r.Topic, err)
		}
	}
}
