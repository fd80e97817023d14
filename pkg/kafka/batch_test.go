package kafka_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// batchLog records the batches a BatchHandler got, per partition.
type batchLog struct {
	mu      sync.Mutex
	opened  map[int32]int
	values  map[int32][]int // in the order handled
	batches int
	largest int
}

func newBatchLog() *batchLog {
	return &batchLog{opened: map[int32]int{}, values: map[int32][]int{}}
}

func (b *batchLog) handled() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, vs := range b.values {
		n += len(vs)
	}
	return n
}

// open is an OpenFunc whose handlers record each batch and then call fail,
// which may fail the batch.
func (b *batchLog) open(fail func(msgs []*kafka.Message) error) kafka.OpenFunc {
	return func(_ context.Context, c kafka.Claim) (kafka.BatchHandler, error) {
		b.mu.Lock()
		b.opened[c.Partition]++
		b.mu.Unlock()
		return func(_ context.Context, msgs []*kafka.Message) error {
			if err := fail(msgs); err != nil {
				return err
			}
			b.mu.Lock()
			defer b.mu.Unlock()
			b.batches++
			b.largest = max(b.largest, len(msgs))
			for _, m := range msgs {
				if m.Partition != c.Partition || m.Topic != c.Topic {
					panic(fmt.Sprintf("claim %v got a message of %s/%d", c, m.Topic, m.Partition))
				}
				v, _ := strconv.Atoi(string(m.Value))
				b.values[m.Partition] = append(b.values[m.Partition], v)
			}
			return nil
		}, nil
	}
}

func startBatchConsumer(t *testing.T, cfg kafka.Config, gc kafka.GroupConfig, open kafka.OpenFunc) func() error {
	t.Helper()
	c, err := kafka.NewBatchConsumer(cfg, gc, open, kafkatest.Logger(t))
	if err != nil {
		t.Fatalf("NewBatchConsumer: %v", err)
	}
	return runConsumer(t, c)
}

func TestBatchesKeepPartitionOrderAndCommitAll(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "batches", 3)
	const n = 3000
	publishN(t, newProducer(t, cfg), topic, 0, n)

	gc := kafkatest.GroupConfig(t, topic)
	gc.MaxBatch = 100
	b := newBatchLog()
	stop := startBatchConsumer(t, cfg, gc, b.open(func([]*kafka.Message) error { return nil }))
	kafkatest.Eventually(t, waitLong, func() bool { return b.handled() == n }, "handled %d of %d", b.handled(), n)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.largest > gc.MaxBatch || b.largest < 2 {
		t.Errorf("largest batch %d, want 2..%d", b.largest, gc.MaxBatch)
	}
	if b.batches >= n/2 {
		t.Errorf("%d batches for %d records: the consumer did not batch", b.batches, n)
	}
	total := int64(0)
	for p, vs := range b.values {
		for i := 1; i < len(vs); i++ {
			if vs[i] <= vs[i-1] { // publishN numbers records in publish order
				t.Fatalf("partition %d: %d handled after %d", p, vs[i], vs[i-1])
			}
		}
		total += int64(len(vs))
	}
	committed := int64(0)
	for _, off := range committedOffsets(t, cfg, gc.Group, topic) {
		committed += off
	}
	if committed != total {
		t.Errorf("committed offsets add up to %d, want %d", committed, total)
	}
	t.Logf("%d records in %d batches, largest %d", total, b.batches, b.largest)
}

// TestFailedBatchIsDeliveredAgainWhole fails one batch: nothing of it may be
// marked, and it is delivered again from its first record, after the
// partition has been opened again.
func TestFailedBatchIsDeliveredAgainWhole(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "batch-redeliver", 1)
	const n = 500
	publishN(t, newProducer(t, cfg), topic, 0, n)

	var failed atomic.Bool
	var failedFirst atomic.Int64
	b := newBatchLog()
	fail := func(msgs []*kafka.Message) error {
		if len(msgs) > 1 && !failed.Swap(true) {
			failedFirst.Store(msgs[0].Offset)
			return errTransient
		}
		return nil
	}
	gc := kafkatest.GroupConfig(t, topic)
	stop := startBatchConsumer(t, cfg, gc, b.open(fail))
	kafkatest.Eventually(t, waitLong, func() bool { return b.handled() >= n }, "handled %d of %d", b.handled(), n)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !failed.Load() {
		t.Fatal("no batch of more than one record came")
	}
	if got := len(b.values[0]); got != n {
		t.Errorf("handled %d records, want each of the %d exactly once (the failed batch was never recorded)", got, n)
	}
	for i, v := range b.values[0] {
		if v != i {
			t.Fatalf("record %d handled at position %d: something was skipped or repeated", v, i)
		}
	}
	if b.opened[0] < 2 {
		t.Errorf("partition opened %d times, want again after the failed batch", b.opened[0])
	}
	if off := committedOffsets(t, cfg, gc.Group, topic)[0]; off != n {
		t.Errorf("committed %d, want %d", off, n)
	}
}

// TestDeadLettersInABatchDoNotHoldBackTheirNeighbours has a batch handler
// dead-letter its poison records with DeadLetters, publishing them with the
// batch's other output: every good record is handled once and every poison
// one is on the dead-letter topic once, with its origin.
func TestDeadLettersInABatchDoNotHoldBackTheirNeighbours(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "batch-poison", 2)
	dlt := kafkatest.Topic(t, cfg, "batch-poison-dlt", 1)
	out := kafkatest.Topic(t, cfg, "batch-poison-out", 1)
	p := newProducer(t, cfg)
	const n = 400
	publishN(t, p, topic, 0, n)

	gc := kafkatest.GroupConfig(t, topic)
	dead := kafka.DeadLetters{Topic: dlt, Group: gc.Group}
	open := func(context.Context, kafka.Claim) (kafka.BatchHandler, error) {
		return func(ctx context.Context, msgs []*kafka.Message) error {
			var recs []kafka.Record
			for _, m := range msgs {
				v, _ := strconv.Atoi(string(m.Value))
				if v%50 == 7 {
					recs = append(recs, dead.Record(ctx, m, kafka.Permanent(fmt.Errorf("poison %d", v))))
					continue
				}
				recs = append(recs, kafka.Record{Topic: out, Value: m.Value})
			}
			return p.Publish(ctx, recs...)
		}, nil
	}
	startBatchConsumer(t, cfg, gc, open)

	poison := kafkatest.ReadN(t, cfg, dlt, n/50, waitLong)
	good := kafkatest.ReadN(t, cfg, out, n-n/50, waitLong)
	seenGood := map[string]int{}
	for _, m := range good {
		seenGood[string(m.Value)]++
	}
	for i := range n {
		if want := 1 - boolInt(i%50 == 7); seenGood[strconv.Itoa(i)] != want {
			t.Errorf("record %d handled %d times, want %d", i, seenGood[strconv.Itoa(i)], want)
		}
	}
	for _, m := range poison {
		if m.Header(kafka.HeaderDLTOriginTopic) != topic || m.Header(kafka.HeaderDLTError) == "" {
			t.Errorf("dead letter %s without its origin or error: %v", m.Value, m.Headers)
		}
	}
	// Nothing more arrives: no batch was delivered again.
	time.Sleep(500 * time.Millisecond)
	if extra := kafkatest.ReadFor(t, cfg, out, time.Second); len(extra) != n-n/50 {
		t.Errorf("%d records on the output topic, want %d", len(extra), n-n/50)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
