package kafka_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// TestStopThatTimesOutLeavesTheGroup has two members of a group, one per
// partition. Member A's handler ignores its context and never returns; A is
// stopped and gives up after its shutdown timeout. A must still leave the
// group: member B then owns both partitions and gets the record A was stuck
// on, long before a session timeout could have evicted A, and from the
// start, since A committed nothing of it.
func TestStopThatTimesOutLeavesTheGroup(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "stuck-leaves", 2)
	gc := kafkatest.GroupConfig(t, topic)
	// Far longer than the test waits: only leaving can hand A's partition
	// over in time.
	gc.SessionTimeout = time.Minute

	stuck := make(chan *kafka.Message, 1)
	release := make(chan struct{})
	defer close(release)
	gcA := gc
	gcA.ShutdownTimeout = time.Second
	// A outlives the test by design, so it must not log to t.
	a, err := kafka.NewConsumer(cfg, gcA, func(_ context.Context, m *kafka.Message) error {
		stuck <- m
		<-release // ignores its context on purpose
		return nil
	}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	stopA := runConsumer(t, a)

	var mu sync.Mutex
	gotB := map[int32][]string{}
	b, _ := startConsumer(t, cfg, gc, func(_ context.Context, m *kafka.Message) error {
		mu.Lock()
		defer mu.Unlock()
		gotB[m.Partition] = append(gotB[m.Partition], string(m.Value))
		return nil
	})
	waitForAPartitionEach(t, topic, a, b)
	partA := a.Assignment()[topic][0]

	p := newProducer(t, cfg)
	for part := range int32(2) {
		if err := p.Publish(context.Background(), kafka.Record{Topic: topic, Value: []byte(recordFor(part))}.OnPartition(part)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case m := <-stuck:
		if m.Partition != partA {
			t.Fatalf("A got a record of partition %d, it owns %d", m.Partition, partA)
		}
	case <-time.After(waitLong):
		t.Fatal("A's handler never started")
	}

	if err := stopA(); !errors.Is(err, kafka.ErrShutdownTimeout) {
		t.Fatalf("A's Run = %v, want ErrShutdownTimeout", err)
	}
	stopped := time.Now()
	want := recordFor(partA)
	has := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range gotB[partA] {
			if v == want {
				return true
			}
		}
		return false
	}
	// Well under a second on an idle machine; the margin is for a loaded one.
	kafkatest.Eventually(t, 15*time.Second, has, "B did not get A's partition and its record %s after A's stop timed out", want)
	t.Logf("B got A's record %s after A stopped in %s", want, time.Since(stopped).Round(10*time.Millisecond))
}

func recordFor(partition int32) string { return "for-" + strconv.Itoa(int(partition)) }
