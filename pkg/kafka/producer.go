package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.opentelemetry.io/otel/trace"
)

// maxRecordBytes is the largest record a Producer sends: sarama's default,
// below the broker's default message.max.bytes.
const maxRecordBytes = 1_000_000

// ErrRecordTooLarge is returned by Publish, before anything is sent, for a
// batch holding a record larger than a Producer sends.
var ErrRecordTooLarge = errors.New("kafka: record too large")

// ErrProducerClosed is returned by Publish after Close.
var ErrProducerClosed = errors.New("kafka: producer closed")

// Producer publishes records synchronously: Publish returns once every record
// is acknowledged by all in-sync replicas, or with the first failure.
//
// It is idempotent (the broker drops retried duplicates within a partition)
// and partitions keyed records with murmur2 exactly as the Java client and
// kafkajs do, so the Go and Node.js services agree on where a key lives.
type Producer struct {
	sp      sarama.SyncProducer
	metrics *Metrics
	tracer  trace.Tracer // nil: nothing traced

	mu       sync.Mutex // guards closed and adding to inFlight
	closed   bool
	inFlight sync.WaitGroup
}

// producerConfig is the sarama configuration of every producer of the
// package, transactional or not: idempotent, acks from all in-sync
// replicas, the Java client's partitioning, and sends held for a
// millisecond, so that what is published at once goes in one request.
func (c Config) producerConfig() (*sarama.Config, error) {
	sc, err := c.sarama()
	if err != nil {
		return nil, err
	}
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = newPartitioner
	sc.Producer.MaxMessageBytes = maxRecordBytes
	sc.Producer.Return.Errors = true
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 200 * time.Millisecond
	// Idempotence needs at most one in-flight request per connection so a
	// retried batch can never overtake the one after it.
	sc.Net.MaxOpenRequests = 1
	sc.Producer.Flush.Frequency = time.Millisecond
	return sc, nil
}

// checkSizes refuses records holding one larger than a producer sends, all
// of them, before any is sent: alone, it would fail while the rest are
// written.
func checkSizes(records []Record, metrics *Metrics) error {
	for _, r := range records {
		if n := r.size(); n > maxRecordBytes {
			metrics.refused(records)
			return fmt.Errorf("%w: a record for %s takes %d bytes, at most %d fit", ErrRecordTooLarge, r.Topic, n, maxRecordBytes)
		}
	}
	return nil
}

// NewProducer connects to the cluster described by cfg.
func NewProducer(cfg Config) (*Producer, error) {
	sc, err := cfg.producerConfig()
	if err != nil {
		return nil, err
	}
	sc.Producer.Return.Successes = true // required by SyncProducer

	sp, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka: new producer: %w", err)
	}
	return &Producer{sp: sp, metrics: cfg.Metrics, tracer: tracerOf(cfg.TracerProvider)}, nil
}

// Publish sends records and waits for all of them to be acknowledged. Records
// to the same partition keep their order.
//
// If ctx ends first, Publish returns ctx's error; the records may still be
// delivered, which at-least-once consumers already tolerate.
func (p *Producer) Publish(ctx context.Context, records ...Record) error {
	if len(records) == 0 {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := checkSizes(records, p.metrics); err != nil {
		return err
	}
	msgs := make([]*sarama.ProducerMessage, len(records))
	for i, r := range records {
		msgs[i] = r.toSarama()
	}

	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		p.metrics.refused(records)
		return ErrProducerClosed
	}
	p.inFlight.Add(1)
	p.mu.Unlock()
	var spans sends
	if p.tracer != nil {
		spans = startSends(ctx, p.tracer, records, msgs)
	}
	done := make(chan error, 1)
	// sarama's send cannot be called off: when ctx ends first, this
	// goroutine waits on for sarama's answer, which its retries and request
	// timeouts bound, and Close waits for it. No lock is held meanwhile, so
	// a Close that waits never holds up another Publish.
	go func() {
		defer p.inFlight.Done()
		start := time.Now()
		err := sendAll(p.sp, msgs)
		p.metrics.published(msgs, err, time.Since(start))
		spans.end(msgs, err)
		done <- err
	}()

	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("kafka: publish: %w", ctx.Err())
	}
}

func sendAll(sp sarama.SyncProducer, msgs []*sarama.ProducerMessage) error {
	if len(msgs) == 1 {
		if _, _, err := sp.SendMessage(msgs[0]); err != nil {
			return fmt.Errorf("kafka: publish to %s: %w", msgs[0].Topic, err)
		}
		return nil
	}
	if err := sp.SendMessages(msgs); err != nil {
		var perrs sarama.ProducerErrors
		if errors.As(err, &perrs) && len(perrs) > 0 {
			return fmt.Errorf("kafka: publish: %d of %d records failed, first to %s: %w",
				len(perrs), len(msgs), perrs[0].Msg.Topic, perrs[0].Err)
		}
		return fmt.Errorf("kafka: publish: %w", err)
	}
	return nil
}

// Close refuses new publishes, waits for those in flight, flushes and
// disconnects. It is safe to call more than once. With Kafka unreachable
// it takes as long as sarama's retries: bound it from outside (App does).
func (p *Producer) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	p.inFlight.Wait()
	if err := p.sp.Close(); err != nil {
		return fmt.Errorf("kafka: close producer: %w", err)
	}
	return nil
}
