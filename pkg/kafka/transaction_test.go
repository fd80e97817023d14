package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// relay is a transactional consume-transform-produce: for every record of
// its input it publishes one record, with the same value, to out.
type relay struct {
	out string
	// fail, if set, is called once the batch's records are sent, and may
	// fail the batch after that.
	fail func(msgs []*kafka.Message) error
}

func (r relay) open(_ context.Context, c kafka.Claim) (kafka.BatchHandler, error) {
	if c.Out == nil {
		return nil, errors.New("a claim without a transactional publisher")
	}
	return func(ctx context.Context, msgs []*kafka.Message) error {
		recs := make([]kafka.Record, len(msgs))
		for i, m := range msgs {
			recs[i] = kafka.Record{Topic: r.out, Key: m.Key, Value: m.Value}
		}
		if err := c.Out.Publish(ctx, recs...); err != nil {
			return err
		}
		if r.fail != nil {
			return r.fail(msgs)
		}
		return nil
	}, nil
}

// waitCommitted waits until group has committed n records of topic.
func waitCommitted(t *testing.T, cfg kafka.Config, group, topic string, n int64) {
	t.Helper()
	admin := newAdmin(t, cfg)
	kafkatest.Eventually(t, waitLong, func() bool {
		resp, err := admin.ListConsumerGroupOffsets(group, nil)
		if err != nil {
			return false // the group is not there yet
		}
		total := int64(0)
		for _, block := range resp.Blocks[topic] {
			total += max(0, block.Offset)
		}
		return total == n
	}, "group %s did not commit all %d records of %s", group, n, topic)
}

// checkOnce reads out to its end, read committed, and checks that it holds
// every value from 0 to n-1 exactly once.
func checkOnce(t *testing.T, cfg kafka.Config, out string, n int) {
	t.Helper()
	counts := map[string]int{}
	for _, m := range kafkatest.ReadToEnd(t, cfg, out, func(*kafka.Message) bool { return true }, waitLong) {
		counts[string(m.Value)]++
	}
	missing, twice := 0, 0
	for i := range n {
		switch c := counts[strconv.Itoa(i)]; {
		case c == 0:
			missing++
		case c > 1:
			twice++
		}
	}
	if missing > 0 || twice > 0 || len(counts) != n {
		t.Errorf("read committed from %s: %d missing, %d more than once, %d distinct; want each of %d once",
			out, missing, twice, len(counts), n)
	}
}

// TestTransactionsAbortWhatAFailedBatchSent fails a batch of each partition
// once after its records were sent: they reach the broker, and the abort
// must keep them from every read-committed reader, while the batch, handled
// again, is committed once.
func TestTransactionsAbortWhatAFailedBatchSent(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	metrics, err := kafka.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg := kafkatest.Config(t)
	cfg.Metrics = metrics
	in := kafkatest.Topic(t, cfg, "in", 3)
	out := kafkatest.Topic(t, cfg, "out", 3)
	const n = 600
	publishN(t, newProducer(t, cfg), in, 0, n)

	var mu sync.Mutex
	failed := map[int32]bool{}
	r := relay{out: out, fail: func(msgs []*kafka.Message) error {
		mu.Lock()
		defer mu.Unlock()
		if p := msgs[0].Partition; !failed[p] {
			failed[p] = true
			return fmt.Errorf("the first batch of partition %d fails after sending", p)
		}
		return nil
	}}
	gc := kafkatest.GroupConfig(t, in)
	gc.TransactionalID = kafkatest.Name(t, "txn")
	gc.MaxBatch = 50
	gc.OffsetMetadata = "partitions=3"
	stop := startBatchConsumer(t, cfg, gc, r.open)
	waitCommitted(t, cfg, gc.Group, in, n)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	committed, err := newReader(t, cfg).Committed(t.Context(), gc.Group, in)
	if err != nil {
		t.Fatal(err)
	}
	for p, c := range committed {
		if c.Metadata != gc.OffsetMetadata {
			t.Errorf("partition %d: committed %+v, want the metadata %q beside the offset", p, c, gc.OffsetMetadata)
		}
	}
	if len(committed) != 3 {
		t.Errorf("committed offsets of %d partitions, want 3", len(committed))
	}

	checkOnce(t, cfg, out, n)
	aborted := testutil.ToFloat64(metrics.Transactions("aborted"))
	if aborted < 1 {
		t.Errorf("%v transactions aborted, want at least 1: the failures were not aborted", aborted)
	}
	t.Logf("transactions: %v committed, %v aborted",
		testutil.ToFloat64(metrics.Transactions("committed")), aborted)
}

// TestTransactionsFenceAMemberTheGroupLeftBehind stalls a member in a batch,
// after it sent the batch's output, for longer than the group waits for it
// at a rebalance: the group goes on without it, and the second member
// handles the batch again. When the stalled member comes back, the
// coordinator must refuse its offsets, so that its transaction aborts and
// the output is read once.
func TestTransactionsFenceAMemberTheGroupLeftBehind(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	in := kafkatest.Topic(t, cfg, "in", 2)
	out := kafkatest.Topic(t, cfg, "out", 2)
	const n = 200
	publishN(t, newProducer(t, cfg), in, 0, n/2)

	gc := kafkatest.GroupConfig(t, in)
	gc.RebalanceTimeout = 3 * time.Second
	gc.MaxBatch = 20

	// a stalls in its first batch once b asks to join.
	stalled, resume := make(chan struct{}), make(chan struct{})
	var stalls atomic.Int32
	ra := relay{out: out, fail: func([]*kafka.Message) error {
		if stalls.Add(1) == 1 {
			close(stalled)
			<-resume
		}
		return nil
	}}
	gc.TransactionalID = kafkatest.Name(t, "txn")
	a, err := kafka.NewBatchConsumer(cfg, gc, ra.open, kafkatest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	stopA := runConsumer(t, a)
	<-stalled

	rb := relay{out: out}
	b, err := kafka.NewBatchConsumer(cfg, gc, rb.open, kafkatest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, b)
	// b owns both partitions once the group has given up on a.
	kafkatest.Eventually(t, waitLong, func() bool { return len(b.Assignment()[in]) == 2 },
		"the group did not go on without the stalled member")
	publishN(t, newProducer(t, cfg), in, n/2, n/2)
	waitCommitted(t, cfg, gc.Group, in, n)

	close(resume)
	// a's stalled transaction must abort; give it the time to try.
	_ = stopA()
	checkOnce(t, cfg, out, n)
}

// TestOffsetsAreCommittedPastTransactionMarkers consumes a partition
// written in transactions, some aborted: the consumer is never given the
// markers and aborted records at its end, yet its committed offset must
// reach the end of the partition, as a Java consumer's does, or its lag
// reads one for ever. Both kinds of consumer are checked.
func TestOffsetsAreCommittedPastTransactionMarkers(t *testing.T) {
	t.Parallel()
	for _, transactional := range []bool{false, true} {
		t.Run(fmt.Sprint("transactional ", transactional), func(t *testing.T) {
			t.Parallel()
			cfg := kafkatest.Config(t)
			in := kafkatest.Topic(t, cfg, "in", 1)
			p := txnProducer(t, cfg, kafkatest.Name(t, "txn"))
			inTxn(t, p, in, true, "a", "b")
			inTxn(t, p, in, false, "c")
			inTxn(t, p, in, true, "d")
			inTxn(t, p, in, false, "e", "f")

			gc := kafkatest.GroupConfig(t, in)
			var mu sync.Mutex
			var got []string
			var out kafka.Publisher
			open := func(_ context.Context, c kafka.Claim) (kafka.BatchHandler, error) {
				mu.Lock()
				out = c.Out
				mu.Unlock()
				return func(_ context.Context, msgs []*kafka.Message) error {
					mu.Lock()
					for _, m := range msgs {
						got = append(got, string(m.Value))
					}
					mu.Unlock()
					return nil
				}, nil
			}
			if transactional {
				gc.TransactionalID = kafkatest.Name(t, "txn")
			}
			stop := startBatchConsumer(t, cfg, gc, open)
			// 4 records, 2 aborted ones and 4 markers.
			waitCommitted(t, cfg, gc.Group, in, 10)
			if err := stop(); err != nil {
				t.Fatal(err)
			}
			// Started again from offset 7, before the last transaction's
			// aborted records and marker, it commits the end too.
			admin := newAdmin(t, cfg)
			if _, err := admin.AlterConsumerGroupOffsets(gc.Group, map[string]map[int32]sarama.OffsetAndMetadata{
				in: {0: {Offset: 7, LeaderEpoch: -1}}}, nil); err != nil {
				t.Fatal(err)
			}
			startBatchConsumer(t, cfg, gc, open)
			waitCommitted(t, cfg, gc.Group, in, 10)
			mu.Lock()
			defer mu.Unlock()
			if want := []string{"a", "b", "d"}; !slices.Equal(got, want) {
				t.Errorf("handled %q, want %q", got, want)
			}
			if transactional != (out != nil) {
				t.Fatalf("the claim's Out is %v, want one exactly for a transactional consumer", out)
			}
			if out != nil {
				rec := kafka.Record{Topic: in, Value: []byte("late")}
				if err := out.Publish(t.Context(), rec); !errors.Is(err, kafka.ErrNoTransaction) {
					t.Errorf("Out.Publish outside a batch = %v, want ErrNoTransaction", err)
				}
			}
		})
	}
}
