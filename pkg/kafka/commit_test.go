package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// progress is the highest offset handled per partition, as a handler that
// writes through a buffer would have it in that buffer.
type progress struct {
	mu      sync.Mutex
	handled map[int32]int64
}

func (p *progress) add(m *kafka.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.handled[m.Partition] = max(p.handled[m.Partition], m.Offset)
}

func (p *progress) snapshot() map[int32]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int32]int64, len(p.handled))
	for part, off := range p.handled {
		out[part] = off
	}
	return out
}

// TestOffsetsAreNeverCommittedAheadOfBeforeCommit handles records while
// BeforeCommit, a slow flush, notes what had been handled when it ran. An
// offset committed must be covered by a run of the hook that came before
// the commit: each run checks the commits made since the previous one, and
// the test checks the last after the stop, which commits all that was
// handled.
func TestOffsetsAreNeverCommittedAheadOfBeforeCommit(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "before-commit", 2)
	// More than the test handles: the hook runs only while records are.
	publishN(t, newProducer(t, cfg), topic, 0, 5000)
	gc := kafkatest.GroupConfig(t, topic)
	admin := newAdmin(t, cfg)

	handled := &progress{handled: map[int32]int64{}}
	var (
		covered    = map[int32]int64{} // handled as the last run of the hook began
		runs       atomic.Int32
		violations []string
	)
	// checkCommits compares what is committed with what the hook covered.
	// The hook's runs never overlap, and the test reads covered only after
	// the consumer stopped.
	checkCommits := func() error {
		resp, err := admin.ListConsumerGroupOffsets(gc.Group, nil)
		if err != nil {
			return err
		}
		for part, block := range resp.Blocks[topic] {
			if block.Offset > 0 && block.Offset > covered[part]+1 {
				violations = append(violations, fmt.Sprintf("partition %d: committed %d, BeforeCommit had covered up to %d",
					part, block.Offset, covered[part]))
			}
		}
		return nil
	}
	gc.BeforeCommit = func() error {
		if err := checkCommits(); err != nil {
			return err
		}
		runs.Add(1)
		covered = handled.snapshot()
		// A flush takes a while, and the partitions go on meanwhile.
		time.Sleep(30 * time.Millisecond)
		return nil
	}
	c, err := kafka.NewConsumer(cfg, gc, func(_ context.Context, m *kafka.Message) error {
		time.Sleep(time.Millisecond)
		handled.add(m)
		return nil
	}, kafkatest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	stop := runConsumer(t, c)
	kafkatest.Eventually(t, waitLong, func() bool { return runs.Load() >= 6 }, "BeforeCommit did not run six times while records were handled")
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := checkCommits(); err != nil {
		t.Fatal(err)
	}
	for _, v := range violations {
		t.Error(v)
	}
	committed := committedOffsets(t, cfg, gc.Group, topic)
	done := handled.snapshot()
	if len(done) != 2 {
		t.Fatalf("records were handled on %d partitions, want 2", len(done))
	}
	for part, off := range done {
		if committed[part] != off+1 {
			t.Errorf("partition %d: committed %d after the stop, want %d", part, committed[part], off+1)
		}
	}
	t.Logf("BeforeCommit ran %d times; %d commits ahead of it; handled %v", runs.Load(), len(violations), done)
}

// TestFailingBeforeCommitHoldsOffsetsBack fails BeforeCommit: nothing is
// committed and Healthy says why, until the hook succeeds again.
func TestFailingBeforeCommitHoldsOffsetsBack(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "before-commit-fails", 1)
	publishN(t, newProducer(t, cfg), topic, 0, 10)
	gc := kafkatest.GroupConfig(t, topic)
	errFlush := errors.New("write /dev/stderr: broken pipe")
	var failing atomic.Bool
	failing.Store(true)
	var calls atomic.Int32
	gc.BeforeCommit = func() error {
		calls.Add(1)
		if failing.Load() {
			return errFlush
		}
		return nil
	}
	var handled atomic.Int32
	c, err := kafka.NewConsumer(cfg, gc, func(context.Context, *kafka.Message) error {
		handled.Add(1)
		return nil
	}, kafkatest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	runConsumer(t, c)

	kafkatest.Eventually(t, waitLong, func() bool { return handled.Load() == 10 && calls.Load() >= 3 },
		"the records were not all handled, or BeforeCommit was not called")
	if off, ok := committedOffsets(t, cfg, gc.Group, topic)[0]; ok && off >= 0 {
		t.Errorf("committed %d while BeforeCommit failed", off)
	}
	if err := c.Healthy(); err == nil || !errors.Is(err, errFlush) || !strings.Contains(err.Error(), "BeforeCommit") {
		t.Errorf("Healthy() = %v, want it to name BeforeCommit and its error", err)
	}

	failing.Store(false)
	kafkatest.Eventually(t, waitLong, func() bool { return committedOffsets(t, cfg, gc.Group, topic)[0] == 10 },
		"offsets not committed after BeforeCommit recovered")
	if err := c.Healthy(); err != nil {
		t.Errorf("Healthy() = %v after BeforeCommit recovered", err)
	}
}
