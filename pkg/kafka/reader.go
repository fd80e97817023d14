package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// Reader reads partitions directly, outside any consumer group: to restore
// state from a changelog topic before a partition is processed, and to
// follow a topic as a read model.
//
// It reads committed records only. Its end of a partition is the high
// watermark, so the topics it reads must not be written in transactions.
type Reader struct {
	cfg    Config
	client sarama.Client
}

// NewReader connects to the cluster described by cfg.
func NewReader(cfg Config) (*Reader, error) {
	client, err := newReaderClient(cfg, 50*time.Millisecond)
	if err != nil {
		return nil, err
	}
	return &Reader{cfg: cfg, client: client}, nil
}

// newReaderClient connects a client whose fetches wait at most maxWait for
// data. A broker answers the requests of one connection in order, so a
// fetch waiting at the end of a partition holds up every request behind it:
// restores, which share a connection and ask for offsets, want it short.
func newReaderClient(cfg Config, maxWait time.Duration) (sarama.Client, error) {
	sc, err := cfg.sarama()
	if err != nil {
		return nil, err
	}
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Return.Errors = true
	sc.Consumer.MaxWaitTime = maxWait
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka: new reader: %w", err)
	}
	return client, nil
}

// Close disconnects.
func (r *Reader) Close() error { return r.client.Close() }

// Partitions returns the number of partitions of topic.
func (r *Reader) Partitions(topic string) (int, error) {
	if err := r.client.RefreshMetadata(topic); err != nil {
		return 0, fmt.Errorf("kafka: metadata of %s: %w", topic, err)
	}
	ps, err := r.client.Partitions(topic)
	if err != nil {
		return 0, fmt.Errorf("kafka: partitions of %s: %w", topic, err)
	}
	return len(ps), nil
}

// ReadPartition reads partition of topic from its oldest record up to the end
// it has when the call starts, calling fn for each record in offset order,
// and returns how many records it read. An error from fn stops the read and
// is returned.
func (r *Reader) ReadPartition(ctx context.Context, topic string, partition int32, fn func(*Message) error) (int, error) {
	oldest, err := r.client.GetOffset(topic, partition, sarama.OffsetOldest)
	if err != nil {
		return 0, fmt.Errorf("kafka: oldest offset of %s/%d: %w", topic, partition, err)
	}
	end, err := r.client.GetOffset(topic, partition, sarama.OffsetNewest)
	if err != nil {
		return 0, fmt.Errorf("kafka: end offset of %s/%d: %w", topic, partition, err)
	}
	if end <= oldest {
		return 0, nil
	}
	consumer, err := sarama.NewConsumerFromClient(r.client)
	if err != nil {
		return 0, fmt.Errorf("kafka: reader: %w", err)
	}
	defer consumer.Close()
	n := 0
	// The end can also be reached without a record at end-1: retention may
	// delete what was below it meanwhile. Look now and then.
	reached := func() bool {
		oldest, err := r.client.GetOffset(topic, partition, sarama.OffsetOldest)
		return err == nil && oldest >= end
	}
	err = consume(ctx, consumer, topic, partition, sarama.OffsetOldest, reached, func(cm *sarama.ConsumerMessage) (bool, error) {
		n++
		if err := fn(messageFromSarama(cm)); err != nil {
			return false, err
		}
		return cm.Offset+1 < end, nil
	})
	return n, err
}

// Follow reads every partition of topic from its oldest record on and calls
// fn for each record, until ctx ends; it returns nil then. Calls for one
// partition come in offset order; calls for different partitions run
// concurrently. It uses a connection of its own, whose fetches wait at the
// end of the partitions for new records, and one consumer for all the
// partitions, so that one fetch asks for all of them: a fetch per partition
// would wait in line behind the others.
func (r *Reader) Follow(ctx context.Context, topic string, fn func(*Message)) error {
	n, err := r.Partitions(topic)
	if err != nil {
		return err
	}
	client, err := newReaderClient(r.cfg, 500*time.Millisecond)
	if err != nil {
		return err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return fmt.Errorf("kafka: reader: %w", err)
	}
	defer consumer.Close()
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		p := int32(i)
		wg.Go(func() {
			errs[i] = consume(ctx, consumer, topic, p, sarama.OffsetOldest, nil, func(cm *sarama.ConsumerMessage) (bool, error) {
				fn(messageFromSarama(cm))
				return true, nil
			})
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		return nil
	}
	return errors.Join(errs...)
}

// consume reads partition from offset, calling fn for each record until fn
// reports false or fails, reached (if not nil, asked every second without a
// record) reports the end, or ctx ends or the consumer is stopping (see
// Stopping): then ctx's error or errStopping is returned. Errors sarama
// reports on the way are ones it retries by itself, so reading goes on.
func consume(ctx context.Context, consumer sarama.Consumer, topic string, partition int32, offset int64,
	reached func() bool, fn func(*sarama.ConsumerMessage) (bool, error)) error {
	pc, err := consumer.ConsumePartition(topic, partition, offset)
	if err != nil {
		return fmt.Errorf("kafka: read %s/%d: %w", topic, partition, err)
	}
	defer pc.AsyncClose()
	idle := time.NewTicker(time.Second)
	defer idle.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-Stopping(ctx):
			return fmt.Errorf("kafka: read %s/%d: %w", topic, partition, errStopping)
		case <-pc.Errors(): //nolint:errcheck // sarama retries what it reports here by itself (see above)
		case <-idle.C:
			if reached != nil && reached() {
				return nil
			}
		case cm, ok := <-pc.Messages():
			if !ok {
				return fmt.Errorf("kafka: read %s/%d: stopped", topic, partition)
			}
			idle.Reset(time.Second)
			more, err := fn(cm)
			if err != nil || !more {
				return err
			}
		}
	}
}

// errStopping is returned by a read the consumer's stop cut short.
var errStopping = errors.New("consumer stopping")
