package kafka_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// TestFailingHandlerDoesNotRebalanceTheGroup has two members of a group,
// one per partition. A record on member A's partition fails its handler
// for three seconds: A must retry it where it is, not leave and rejoin, so
// member B sees no new generation meanwhile, and the record is handled
// once the failure is over.
func TestFailingHandlerDoesNotRebalanceTheGroup(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "failing", 2)
	gc := kafkatest.GroupConfig(t, topic)

	const failFor = 3 * time.Second
	var (
		mu       sync.Mutex
		first    time.Time // of the first attempt at the failing record
		attempts int
		done     bool
	)
	h := func(_ context.Context, m *kafka.Message) error {
		if string(m.Value) != "fails" {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		attempts++
		if first.IsZero() {
			first = time.Now()
		}
		if time.Since(first) < failFor {
			return errTransient
		}
		done = true
		return nil
	}
	a, _ := startConsumer(t, cfg, gc, h)
	core, logsB := observer.New(zapcore.InfoLevel)
	b, err := kafka.NewConsumer(cfg, gc, h, zap.New(zapcore.NewTee(kafkatest.Logger(t).Core(), core)))
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, b)
	waitForAPartitionEach(t, topic, a, b)
	generationsBefore := logsB.FilterMessage("partitions assigned").Len()

	rec := kafka.Record{Topic: topic, Value: []byte("fails")}.OnPartition(a.Assignment()[topic][0])
	if err := newProducer(t, cfg).Publish(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, waitLong, func() bool { mu.Lock(); defer mu.Unlock(); return done },
		"the failing record was never handled")

	mu.Lock()
	defer mu.Unlock()
	rebalances := logsB.FilterMessage("partitions assigned").Len() - generationsBefore
	t.Logf("%d attempts in %s; member B saw %d new generations", attempts, failFor, rebalances)
	if attempts < 3 {
		t.Errorf("the record was tried %d times, want it retried while it failed", attempts)
	}
	if rebalances != 0 {
		t.Errorf("member B saw %d new generations while A's handler failed, want none", rebalances)
	}
}
