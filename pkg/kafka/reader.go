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
// It reads committed records only: those of transactions that were
// aborted, and those of transactions still open, never reach its callers.
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

// Committed is a consumer group's committed offset of a partition, with
// the metadata committed beside it (see GroupConfig.OffsetMetadata).
type Committed struct {
	Offset   int64
	Metadata string
}

// Committed returns the offsets group has committed for the partitions of
// topic; a partition without one is left out. While the group's
// coordinator is not ready (a new cluster creates its offsets topic on the
// first group request) it asks again, until ctx ends.
func (r *Reader) Committed(ctx context.Context, group, topic string) (map[int32]Committed, error) {
	var out map[int32]Committed
	wait := RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 2 * time.Second}
	err := wait.Do(ctx, func() error {
		var err error
		out, err = r.committed(group, topic)
		if err != nil && !coordinatorNotReady(err) {
			return Permanent(err)
		}
		return err
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("kafka: committed offsets of %s: %w", group, err)
	}
	return out, nil
}

// coordinatorNotReady reports the errors of a group coordinator that is
// being found, moved or loaded.
func coordinatorNotReady(err error) bool {
	return errors.Is(err, sarama.ErrNotCoordinatorForConsumer) || errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable) ||
		errors.Is(err, sarama.ErrOffsetsLoadInProgress)
}

func (r *Reader) committed(group, topic string) (map[int32]Committed, error) {
	n, err := r.Partitions(topic)
	if err != nil {
		return nil, err
	}
	partitions := make([]int32, n)
	for i := range partitions {
		partitions[i] = int32(i)
	}
	ask := func() (*sarama.OffsetFetchResponse, error) {
		coordinator, err := r.client.Coordinator(group)
		if err != nil {
			return nil, err
		}
		req := sarama.NewOffsetFetchRequest(r.client.Config().Version, group, map[string][]int32{topic: partitions})
		resp, err := coordinator.FetchOffset(req)
		if err == nil && !errors.Is(resp.Err, sarama.ErrNoError) && !errors.Is(resp.Err, sarama.ErrGroupIDNotFound) {
			err = resp.Err
		}
		return resp, err
	}
	resp, err := ask()
	if err != nil {
		// The coordinator may have moved: look again once.
		if rerr := r.client.RefreshCoordinator(group); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		if resp, err = ask(); err != nil {
			return nil, err
		}
	}
	out := make(map[int32]Committed, n)
	for _, p := range partitions {
		block := resp.GetBlock(topic, p)
		if block == nil || block.Offset < 0 || errors.Is(block.Err, sarama.ErrGroupIDNotFound) {
			continue // a group that never committed
		}
		if !errors.Is(block.Err, sarama.ErrNoError) {
			return nil, fmt.Errorf("%s/%d: %w", topic, p, block.Err)
		}
		out[p] = Committed{Offset: block.Offset, Metadata: block.Metadata}
	}
	return out, nil
}

// ReadPartition reads partition of topic from its oldest record to its
// stable end, calling fn for each committed record in offset order, and
// returns how many records it read. An error from fn stops the read and is
// returned.
//
// The stable end is where the partition stands once every transaction open
// when the call starts has been committed or aborted: a changelog restored
// to it holds everything its writers committed, and nothing they may still
// abort. A writer fenced while its transaction was open (a member that
// stalled past its session timeout) holds the read up until the broker
// aborts that transaction, within the writer's transaction timeout.
func (r *Reader) ReadPartition(ctx context.Context, topic string, partition int32, fn func(*Message) error) (int, error) {
	end, err := r.listOffset(topic, partition, sarama.OffsetNewest, sarama.ReadUncommitted)
	if err != nil {
		return 0, err
	}
	oldest, err := r.listOffset(topic, partition, sarama.OffsetOldest, sarama.ReadUncommitted)
	if err != nil {
		return 0, err
	}
	return r.ReadRange(ctx, topic, partition, oldest, end, fn)
}

// ReadRange reads the committed records of partition of topic from offset
// from up to, not including, to, as ReadPartition does: once every
// transaction below to has ended.
func (r *Reader) ReadRange(ctx context.Context, topic string, partition int32, from, to int64, fn func(*Message) error) (int, error) {
	if err := r.waitStable(ctx, topic, partition, to); err != nil {
		return 0, err
	}
	f := fetcher{client: r.client, topic: topic, partition: partition, size: 1 << 20}
	n := 0
	for offset := from; offset < to; {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		next, err := f.fetch(offset, to, func(m *Message) error {
			n++
			return fn(m)
		})
		switch {
		case errors.Is(err, sarama.ErrOffsetOutOfRange):
			// Retention deleted what was below offset meanwhile: go on from
			// what is left.
			if next, err = r.listOffset(topic, partition, sarama.OffsetOldest, sarama.ReadUncommitted); err != nil {
				return n, err
			}
		case err != nil:
			return n, fmt.Errorf("kafka: read %s/%d@%d: %w", topic, partition, offset, err)
		}
		offset = max(offset, next)
	}
	return n, nil
}

// waitStable waits until the last stable offset of partition has reached
// target. The backoff is short at first: a transaction just ended is
// settled within milliseconds.
func (r *Reader) waitStable(ctx context.Context, topic string, partition int32, target int64) error {
	wait := RetryPolicy{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 500 * time.Millisecond}
	err := wait.Retry(ctx, func() error {
		stable, err := r.listOffset(topic, partition, sarama.OffsetNewest, sarama.ReadCommitted)
		if err == nil && stable < target {
			err = fmt.Errorf("kafka: %s/%d: a transaction is open from offset %d", topic, partition, stable)
		}
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("kafka: stable end of %s/%d: %w", topic, partition, err)
	}
	return nil
}

// listOffset asks the partition's leader for its oldest or newest offset;
// the newest, read committed, is the last stable offset.
func (r *Reader) listOffset(topic string, partition int32, at int64, isolation sarama.IsolationLevel) (int64, error) {
	ask := func() (int64, error) {
		broker, err := r.client.Leader(topic, partition)
		if err != nil {
			return 0, err
		}
		req := sarama.NewOffsetRequest(r.client.Config().Version)
		req.IsolationLevel = isolation
		req.AddBlock(topic, partition, at, 1)
		resp, err := broker.GetAvailableOffsets(req)
		if err != nil {
			return 0, err
		}
		block := resp.GetBlock(topic, partition)
		switch {
		case block == nil:
			return 0, sarama.ErrIncompleteResponse
		case !errors.Is(block.Err, sarama.ErrNoError):
			return 0, block.Err
		case len(block.Offsets) > 0: // version 0 of the request
			return block.Offsets[0], nil
		}
		return block.Offset, nil
	}
	offset, err := ask()
	if err != nil {
		// The leader may have moved: look again once.
		if rerr := r.client.RefreshMetadata(topic); rerr != nil {
			return 0, fmt.Errorf("kafka: offsets of %s/%d: %w", topic, partition, errors.Join(err, rerr))
		}
		if offset, err = ask(); err != nil {
			return 0, fmt.Errorf("kafka: offsets of %s/%d: %w", topic, partition, err)
		}
	}
	return offset, nil
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
