package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/embedded"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// These tests speak the Kafka protocol over TCP: to an embedded broker by
// default, to the cluster in KAFKA_BROKERS when it is set.

const waitLong = 60 * time.Second

func newProducer(t *testing.T, cfg kafka.Config) *kafka.Producer {
	t.Helper()
	p, err := kafka.NewProducer(cfg)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func publishN(t *testing.T, p *kafka.Producer, topic string, from, n int) {
	t.Helper()
	recs := make([]kafka.Record, 0, n)
	for i := from; i < from+n; i++ {
		v := strconv.Itoa(i)
		recs = append(recs, kafka.Record{Topic: topic, Key: []byte("key-" + v), Value: []byte(v)})
	}
	if err := p.Publish(context.Background(), recs...); err != nil {
		t.Fatalf("publish %d records: %v", n, err)
	}
}

// seen records which values a handler processed, and how often.
type seen struct {
	mu     sync.Mutex
	counts map[string]int
	parts  map[int32]bool
}

func newSeen() *seen { return &seen{counts: map[string]int{}, parts: map[int32]bool{}} }

func (s *seen) add(m *kafka.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[string(m.Value)]++
	s.parts[m.Partition] = true
}

func (s *seen) distinct() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.counts)
}

// String reports how many distinct records were seen; failure messages
// format it when they are printed, not when they are set up.
func (s *seen) String() string { return strconv.Itoa(s.distinct()) }

func (s *seen) has(v string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[v] > 0
}

// startConsumer runs a consumer in the background and returns a function that
// stops it and returns Run's error.
func startConsumer(t *testing.T, cfg kafka.Config, gc kafka.GroupConfig, h kafka.Handler) (*kafka.Consumer, func() error) {
	t.Helper()
	c, err := kafka.NewConsumer(cfg, gc, h, kafkatest.Logger(t))
	if err != nil {
		t.Fatalf("NewConsumer: %v", err)
	}
	return c, runConsumer(t, c)
}

// runConsumer runs c until the test ends or the returned stop is called;
// stop returns what Run returned.
func runConsumer(t *testing.T, c *kafka.Consumer) func() error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop := func() error {
		once.Do(func() {
			cancel()
			runErr = <-done
		})
		return runErr
	}
	t.Cleanup(func() { _ = stop() })
	return stop
}

// waitForAPartitionEach waits until group members a and b own one partition
// of topic each.
func waitForAPartitionEach(t *testing.T, topic string, a, b *kafka.Consumer) {
	t.Helper()
	kafkatest.Eventually(t, waitLong, func() bool {
		return len(a.Assignment()[topic]) == 1 && len(b.Assignment()[topic]) == 1
	}, "the two members did not get a partition each")
}

// TestOnPartitionOverridesTheKey publishes keyed records to an explicit
// partition, and keyed ones without: the first land where they were sent,
// the others where murmur2 puts them, and a partition the topic lacks is
// an error.
func TestOnPartitionOverridesTheKey(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "explicit", 3)
	p := newProducer(t, cfg)
	recs := []kafka.Record{
		kafka.Record{Topic: topic, Key: []byte("21"), Value: []byte("explicit")}.OnPartition(1),
		kafka.Record{Topic: topic, Key: []byte("foobar"), Value: []byte("explicit")}.OnPartition(1),
		kafka.Record{Topic: topic, Value: []byte("explicit")}.OnPartition(1),
		{Topic: topic, Key: []byte("21"), Value: []byte("keyed")}, // murmur2: partition 0 of 3
	}
	if err := p.Publish(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	for _, m := range kafkatest.ReadN(t, cfg, topic, len(recs), waitLong) {
		want := int32(1)
		if string(m.Value) == "keyed" {
			want = (-973932308 & 0x7fffffff) % 3
		}
		if m.Partition != want {
			t.Errorf("%s record with key %q on partition %d, want %d", m.Value, m.Key, m.Partition, want)
		}
	}
	err := p.Publish(context.Background(), kafka.Record{Topic: topic, Value: []byte("x")}.OnPartition(3))
	if err == nil || !strings.Contains(err.Error(), "no partition 3") {
		t.Errorf("publish to partition 3 of 3: %v, want an error naming it", err)
	}
}

func TestProducerPartitionsLikeTheJavaClient(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	const partitions = 6
	topic := kafkatest.Topic(t, cfg, "murmur2", partitions)
	p := newProducer(t, cfg)

	// murmur2 of each key as Apache Kafka's own UtilsTest.testMurmur2 pins it;
	// the Java client's partition is (hash & 0x7fffffff) % partitions.
	vectors := map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	}
	for key := range vectors {
		if err := p.Publish(context.Background(), kafka.Record{Topic: topic, Key: []byte(key), Value: []byte(key)}); err != nil {
			t.Fatalf("publish %s: %v", key, err)
		}
	}
	for _, m := range kafkatest.ReadN(t, cfg, topic, len(vectors), waitLong) {
		want := (vectors[string(m.Key)] & 0x7fffffff) % partitions
		if m.Partition != want {
			t.Errorf("key %q landed on partition %d, the Java client puts it on %d", m.Key, m.Partition, want)
		}
		if got := kafka.KeyPartition(m.Key, partitions); got != want {
			t.Errorf("KeyPartition(%q, %d) = %d, the Java client puts it on %d", m.Key, partitions, got, want)
		}
	}
}

// TestProducerIsIdempotentAndWaitsForAllReplicas looks at the produce
// requests themselves, so it always runs on an embedded broker: each asks for
// acks=all (-1) and carries every batch under a producer id, which is what
// lets the broker drop a retried duplicate.
func TestProducerIsIdempotentAndWaitsForAllReplicas(t *testing.T) {
	t.Parallel()
	b, err := embedded.Start(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	var (
		mu       sync.Mutex
		produces []embedded.Produce
	)
	b.WatchProduce(func(p embedded.Produce) {
		mu.Lock()
		defer mu.Unlock()
		produces = append(produces, p)
	})
	cfg := kafka.DefaultConfig(b.Addr())
	topic := kafkatest.Topic(t, cfg, "guarantees", 3)
	publishN(t, newProducer(t, cfg), topic, 0, 20)

	mu.Lock()
	defer mu.Unlock()
	if len(produces) == 0 {
		t.Fatal("the broker saw no produce request")
	}
	for i, p := range produces {
		if p.Acks != -1 {
			t.Errorf("produce request %d asks for acks=%d, want -1 (all in-sync replicas)", i, p.Acks)
		}
		if len(p.ProducerIDs) == 0 {
			t.Errorf("produce request %d holds no record batch", i)
		}
		for _, id := range p.ProducerIDs {
			if id < 0 {
				t.Errorf("produce request %d holds a batch with producer id %d: sent without idempotence", i, id)
			}
		}
	}
}

func TestPublishBatchKeepsKeysValuesAndHeaders(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "batch", 3)
	p := newProducer(t, cfg)

	var recs []kafka.Record
	for i := range 20 {
		recs = append(recs, kafka.Record{Topic: topic, Key: []byte("k" + strconv.Itoa(i%4)), Value: []byte(strconv.Itoa(i)),
			Headers: map[string]string{"n": strconv.Itoa(i)}})
	}
	if err := p.Publish(context.Background(), recs...); err != nil {
		t.Fatal(err)
	}
	got := kafkatest.ReadN(t, cfg, topic, len(recs), waitLong)
	last := map[string]int{} // per key, records must keep their order
	for _, m := range got {
		if m.Header("n") != string(m.Value) {
			t.Errorf("record %s has header n=%q", m.Value, m.Header("n"))
		}
		i, _ := strconv.Atoi(string(m.Value))
		if prev, ok := last[string(m.Key)]; ok && i < prev {
			t.Errorf("key %s: record %d came after %d", m.Key, i, prev)
		}
		last[string(m.Key)] = i
	}
}

func TestPublishHonoursContext(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	p := newProducer(t, cfg)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Publish(ctx, kafka.Record{Topic: "any", Value: []byte("x")}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish on a cancelled context = %v, want context.Canceled", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(context.Background(), kafka.Record{Topic: "any", Value: []byte("x")}); !errors.Is(err, kafka.ErrProducerClosed) {
		t.Fatalf("Publish after Close = %v, want ErrProducerClosed", err)
	}
}

func TestTransientFailureIsRetriedNotSkipped(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "transient", 1)
	p := newProducer(t, cfg)
	publishN(t, p, topic, 0, 10)

	var mu sync.Mutex
	attempts := map[string]int{}
	s := newSeen()
	h := kafka.Chain(func(_ context.Context, m *kafka.Message) error {
		mu.Lock()
		attempts[string(m.Value)]++
		n := attempts[string(m.Value)]
		mu.Unlock()
		if string(m.Value) == "3" && n < 3 {
			return errTransient
		}
		s.add(m)
		return nil
	}, kafka.Retry(fastRetry(0), zap.NewNop()))
	_, stop := startConsumer(t, cfg, kafkatest.GroupConfig(t, topic), h)

	kafkatest.Eventually(t, waitLong, func() bool { return s.distinct() == 10 }, "processed %v of 10", s)
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts["3"] != 3 {
		t.Errorf("record 3 was tried %d times, want 3 (two failures, one success)", attempts["3"])
	}
}

func TestHandlerErrorRedeliversInsteadOfSkipping(t *testing.T) {
	t.Parallel()
	// Without Retry, a failing handler must still not lose the message: the
	// same record comes again, after a backoff, in the same session.
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "redeliver", 1)
	p := newProducer(t, cfg)
	publishN(t, p, topic, 0, 5)

	var failed sync.Once
	s := newSeen()
	core, logs := observer.New(zapcore.WarnLevel)
	c, err := kafka.NewConsumer(cfg, kafkatest.GroupConfig(t, topic), func(_ context.Context, m *kafka.Message) error {
		err := error(nil)
		if string(m.Value) == "2" {
			failed.Do(func() { err = errTransient })
		}
		if err != nil {
			return err
		}
		s.add(m)
		return nil
	}, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	kafkatest.Eventually(t, waitLong, func() bool { return s.distinct() == 5 }, "processed fewer than 5")
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if n := logs.FilterMessage("handler failed, retrying").Len(); n != 1 {
		t.Errorf("the failure was followed by %d backoffs, want 1", n)
	}
	if n := logs.FilterMessage("consume session failed, rejoining").Len(); n != 0 {
		t.Errorf("the member rejoined the group %d times, want none", n)
	}
}

func TestRestartedGroupMemberSkipsNothing(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "handover", 6)
	p := newProducer(t, cfg)
	const total = 600
	publishN(t, p, topic, 0, total)
	gc := kafkatest.GroupConfig(t, topic)

	s := newSeen()
	slow := func(_ context.Context, m *kafka.Message) error {
		time.Sleep(time.Millisecond)
		s.add(m)
		return nil
	}
	// The first member is stopped mid-stream...
	_, stopFirst := startConsumer(t, cfg, gc, slow)
	kafkatest.Eventually(t, waitLong, func() bool { return s.distinct() >= total/4 }, "first member processed %v", s)
	if err := stopFirst(); err != nil {
		t.Fatalf("first member Run: %v", err)
	}
	firstCount := s.distinct()
	if firstCount == total {
		t.Fatalf("first member processed everything before it was stopped; the test proves nothing")
	}
	// ...and a second member of the same group takes over from the commits.
	_, stopSecond := startConsumer(t, cfg, gc, slow)
	kafkatest.Eventually(t, waitLong, func() bool { return s.distinct() == total }, "processed %v of %d", s, total)
	if err := stopSecond(); err != nil {
		t.Fatalf("second member Run: %v", err)
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	dupes := 0
	for _, n := range s.counts {
		dupes += n - 1
	}
	// The first member's stop committed everything it processed, so the
	// second starts exactly where it ended.
	if dupes != 0 {
		t.Errorf("%d records were delivered again after the handover (the first member processed %d), want none", dupes, firstCount)
	}
}

func TestPoisonRecordIsDeadLetteredAndPartitionMovesOn(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "poison", 1)
	dlt := kafkatest.Topic(t, cfg, "dlt", 1)
	p := newProducer(t, cfg)
	for _, v := range []string{"ok-1", "poison", "ok-2", "ok-3"} {
		rec := kafka.Record{Topic: topic, Key: []byte("k"), Value: []byte(v), Headers: map[string]string{"correlation-id": "corr-" + v}}
		if err := p.Publish(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
	}
	gc := kafkatest.GroupConfig(t, topic)
	log := kafkatest.Logger(t)
	s := newSeen()
	h := kafka.Chain(func(_ context.Context, m *kafka.Message) error {
		if string(m.Value) == "poison" {
			return kafka.Permanent(errors.New("orderId: must not be empty"))
		}
		s.add(m)
		return nil
	}, kafka.DeadLetter(p, dlt, gc.Group, log), kafka.Retry(fastRetry(0), log), kafka.Recover(log))
	_, stop := startConsumer(t, cfg, gc, h)

	kafkatest.Eventually(t, waitLong, func() bool { return s.has("ok-3") }, "records after the poison one were not processed")
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	for _, v := range []string{"ok-1", "ok-2", "ok-3"} {
		if !s.has(v) {
			t.Errorf("%s was not processed", v)
		}
	}

	parked := kafkatest.ReadN(t, cfg, dlt, 1, waitLong)[0]
	want := map[string]string{
		kafka.HeaderDLTOriginTopic:     topic,
		kafka.HeaderDLTOriginPartition: "0",
		kafka.HeaderDLTOriginOffset:    "1",
		kafka.HeaderDLTError:           "orderId: must not be empty",
		kafka.HeaderDLTConsumerGroup:   gc.Group,
		"correlation-id":               "corr-poison",
	}
	for k, v := range want {
		if got := parked.Header(k); got != v {
			t.Errorf("dead-letter header %s = %q, want %q", k, got, v)
		}
	}
	if string(parked.Value) != "poison" || string(parked.Key) != "k" {
		t.Errorf("dead-letter record = %q/%q, want the original key and value", parked.Key, parked.Value)
	}
}

func TestPanickingHandlerDoesNotStopTheConsumer(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "panic", 1)
	dlt := kafkatest.Topic(t, cfg, "dlt", 1)
	p := newProducer(t, cfg)
	publishN(t, p, topic, 0, 3)
	gc := kafkatest.GroupConfig(t, topic)
	log := kafkatest.Logger(t)
	s := newSeen()
	h := kafka.Chain(func(_ context.Context, m *kafka.Message) error {
		if string(m.Value) == "1" {
			panic("nil map")
		}
		s.add(m)
		return nil
	}, kafka.DeadLetter(p, dlt, gc.Group, log), kafka.Retry(fastRetry(0), log), kafka.Recover(log))
	_, stop := startConsumer(t, cfg, gc, h)
	kafkatest.Eventually(t, waitLong, func() bool { return s.has("2") }, "record after the panicking one was not processed")
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if got := kafkatest.ReadN(t, cfg, dlt, 1, waitLong)[0].Header(kafka.HeaderDLTError); got != "panic: nil map" {
		t.Errorf("dead-letter error header = %q, want %q", got, "panic: nil map")
	}
}

func TestGroupMembersSplitPartitions(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "split", 6)
	gc := kafkatest.GroupConfig(t, topic)
	noop := func(context.Context, *kafka.Message) error { return nil }
	a, _ := startConsumer(t, cfg, gc, noop)
	b, _ := startConsumer(t, cfg, gc, noop)

	var last string
	kafkatest.Eventually(t, waitLong, func() bool {
		pa, pb := a.Assignment()[topic], b.Assignment()[topic]
		last = fmt.Sprintf("a=%v b=%v", pa, pb)
		if len(pa) == 0 || len(pb) == 0 || len(pa)+len(pb) != 6 {
			return false
		}
		all := slices.Concat(pa, pb)
		slices.Sort(all)
		return slices.Equal(all, []int32{0, 1, 2, 3, 4, 5})
	}, "partitions not split between both members: %s", &last)
	t.Logf("assignment: %s", last)
}

func TestStopUnderLoadCommitsWhatWasProcessed(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "load", 3)
	p := newProducer(t, cfg)
	gc := kafkatest.GroupConfig(t, topic)

	// Keep producing for the whole test.
	loadCtx, stopLoad := context.WithCancel(context.Background())
	var loadWG sync.WaitGroup
	loadWG.Go(func() {
		for i := 0; loadCtx.Err() == nil; i += 20 {
			recs := make([]kafka.Record, 20)
			for j := range recs {
				recs[j] = kafka.Record{Topic: topic, Key: []byte(strconv.Itoa(i + j)), Value: []byte(strconv.Itoa(i + j))}
			}
			if err := p.Publish(loadCtx, recs...); err != nil && loadCtx.Err() == nil {
				t.Errorf("publish: %v", err)
				return
			}
		}
	})
	defer func() { stopLoad(); loadWG.Wait() }()

	var mu sync.Mutex
	lastDone := map[int32]int64{} // highest offset processed per partition
	s := newSeen()
	_, stop := startConsumer(t, cfg, gc, func(_ context.Context, m *kafka.Message) error {
		time.Sleep(2 * time.Millisecond) // in-flight work when the stop comes
		mu.Lock()
		lastDone[m.Partition] = max(lastDone[m.Partition], m.Offset)
		mu.Unlock()
		s.add(m)
		return nil
	})
	kafkatest.Eventually(t, waitLong, func() bool { return s.distinct() >= 300 }, "processed only %v", s)

	began := time.Now()
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(began); took > gc.ShutdownTimeout {
		t.Errorf("stop took %s, longer than the shutdown timeout %s", took, gc.ShutdownTimeout)
	}

	committed := committedOffsets(t, cfg, gc.Group, topic)
	mu.Lock()
	defer mu.Unlock()
	for part, off := range lastDone {
		if committed[part] != off+1 {
			t.Errorf("partition %d: committed %d, want %d (one past the last processed offset)", part, committed[part], off+1)
		}
	}
	t.Logf("processed %d records; committed %v", s.distinct(), committed)
}

func TestStopGivesUpOnAStuckHandler(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "stuck", 1)
	p := newProducer(t, cfg)
	publishN(t, p, topic, 0, 1)
	gc := kafkatest.GroupConfig(t, topic)
	gc.ShutdownTimeout = 2 * time.Second

	started := make(chan struct{})
	release := make(chan struct{})
	defer close(release)
	// The consumer outlives the test by design here, so it must not log to t.
	c, err := kafka.NewConsumer(cfg, gc, func(context.Context, *kafka.Message) error {
		close(started)
		<-release // ignores its context on purpose
		return nil
	}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-started:
	case <-time.After(waitLong):
		t.Fatal("handler never started")
	}
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, kafka.ErrShutdownTimeout) {
			t.Fatalf("Run = %v, want ErrShutdownTimeout", err)
		}
	case <-time.After(gc.ShutdownTimeout + 5*time.Second):
		t.Fatal("Run did not return after the shutdown timeout")
	}
}

func TestEnsureTopicsIsIdempotent(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	name := kafkatest.Name(t, "ensure")
	spec := kafka.TopicSpec{Name: name, Partitions: 4, ReplicationFactor: 1}
	for range 2 {
		if err := kafka.EnsureTopics(context.Background(), cfg, zap.NewNop(), spec); err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	admin := newAdmin(t, cfg)
	metas, err := admin.DescribeTopics([]string{name})
	if err != nil || len(metas) != 1 {
		t.Fatalf("DescribeTopics: %v %v", metas, err)
	}
	if got := len(metas[0].Partitions); got != 4 {
		t.Errorf("partitions = %d, want 4", got)
	}
}

// TestEnsureTopicsSetsConfigsOnATopicThatExists ensures a topic, then
// ensures it again with a longer retention, as a service does after its
// window was raised: the topic takes the new value.
func TestEnsureTopicsSetsConfigsOnATopicThatExists(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	name := kafkatest.Name(t, "reconfig")
	for _, retention := range []string{"7200000", "90000000"} {
		spec := kafka.TopicSpec{Name: name, Partitions: 1, ReplicationFactor: 1,
			Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": retention}}
		if err := kafka.EnsureTopics(context.Background(), cfg, zap.NewNop(), spec); err != nil {
			t.Fatalf("EnsureTopics: %v", err)
		}
	}
	results, err := newAdmin(t, cfg).DescribeConfigs([]*sarama.ConfigResource{
		{Type: sarama.TopicResource, Name: name, ConfigNames: []string{"retention.ms"}},
	}, sarama.DescribeConfigsOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got := ""
	for _, r := range results {
		if r.ErrorCode != sarama.ErrNoError {
			t.Fatalf("describe the configs of %s: %v: %s", r.Name, r.ErrorCode, r.ErrorMsg)
		}
		for _, e := range r.Configs {
			if e.Name == "retention.ms" {
				got = e.Value
			}
		}
	}
	if got != "90000000" {
		t.Errorf("retention.ms = %q, want the second spec's 90000000", got)
	}
}

func TestPingerReportsAReachableCluster(t *testing.T) {
	t.Parallel()
	pinger, err := kafka.NewPinger(kafkatest.Config(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := pinger.Close(); err != nil {
			t.Error(err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := pinger.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
}

func newAdmin(t *testing.T, cfg kafka.Config) sarama.ClusterAdmin {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version, _ = sarama.ParseKafkaVersion(cfg.Version)
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return admin
}

func committedOffsets(t *testing.T, cfg kafka.Config, group, topic string) map[int32]int64 {
	t.Helper()
	resp, err := newAdmin(t, cfg).ListConsumerGroupOffsets(group, nil)
	if err != nil {
		t.Fatalf("ListConsumerGroupOffsets: %v", err)
	}
	out := map[int32]int64{}
	for part, block := range resp.Blocks[topic] {
		out[part] = block.Offset
	}
	return out
}

func TestHealthyReportsAHandlerThatKeepsFailing(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "unhealthy", 1)
	p := newProducer(t, cfg)
	publishN(t, p, topic, 0, 3)

	var broken atomic.Bool
	broken.Store(true)
	c, _ := startConsumer(t, cfg, kafkatest.GroupConfig(t, topic), func(context.Context, *kafka.Message) error {
		if broken.Load() {
			return errTransient
		}
		return nil
	})
	var last error
	kafkatest.Eventually(t, waitLong, func() bool { last = c.Healthy(); return last != nil },
		"Healthy() stayed nil while every message failed")
	if !strings.Contains(last.Error(), "handler failed") || !errors.Is(last, errTransient) {
		t.Errorf("Healthy() = %v, want it to say the handler failed, wrapping %v", last, errTransient)
	}
	broken.Store(false)
	kafkatest.Eventually(t, waitLong, func() bool { return c.Healthy() == nil },
		"Healthy() still reports a failure after the handler recovered")
}

func TestHealthyReportsSessionsThatCannotStart(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	missing := kafkatest.Name(t, "missing") // never created
	c, _ := startConsumer(t, cfg, kafkatest.GroupConfig(t, missing), func(context.Context, *kafka.Message) error { return nil })
	var last error
	kafkatest.Eventually(t, waitLong, func() bool { last = c.Healthy(); return last != nil },
		"Healthy() stayed nil for a group whose topic does not exist")
	if !strings.Contains(last.Error(), "failed to start") {
		t.Errorf("Healthy() = %v, want it to say sessions failed to start", last)
	}
}

func TestHealthyReportsAMessageStuckInItsHandler(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "stuck-handler", 1)
	p := newProducer(t, cfg)
	publishN(t, p, topic, 0, 1)
	gc := kafkatest.GroupConfig(t, topic)
	gc.StuckAfter = 300 * time.Millisecond

	release := make(chan struct{})
	c, _ := startConsumer(t, cfg, gc, func(ctx context.Context, _ *kafka.Message) error {
		select { // a retry loop that never succeeds looks like this from outside
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	var last error
	kafkatest.Eventually(t, waitLong, func() bool { last = c.Healthy(); return last != nil },
		"Healthy() stayed nil while a message sat in its handler")
	if want := topic + "/0@0 has been in its handler"; !strings.Contains(last.Error(), want) {
		t.Errorf("Healthy() = %v, want it to say %q", last, want)
	}
	close(release)
	kafkatest.Eventually(t, waitLong, func() bool { return c.Healthy() == nil },
		"Healthy() still reports a failure after the handler returned")
}

// TestOversizedPoisonRecordIsDeadLetteredTruncated puts a poison record
// close to the broker's 1 MiB limit on a partition, written by a client that
// allows it, with a good record behind it. Its dead-letter copy, with the
// headers added, would be over the producer's limit: the copy carries the
// first part of the value and says how long the whole was, and the partition
// moves on.
func TestOversizedPoisonRecordIsDeadLetteredTruncated(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "big-poison", 1)
	dlt := kafkatest.Topic(t, cfg, "big-poison-dlt", 1)

	big := bytes.Repeat([]byte("x"), 1_048_450)
	sc := sarama.NewConfig()
	sc.Version, _ = sarama.ParseKafkaVersion(cfg.Version)
	sc.Producer.Return.Successes = true
	sc.Producer.MaxMessageBytes = 2 << 20
	raw, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	for _, v := range [][]byte{big, []byte("ok")} {
		if _, _, err := raw.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(v)}); err != nil {
			t.Fatalf("publish %d bytes: %v", len(v), err)
		}
	}

	p := newProducer(t, cfg)
	gc := kafkatest.GroupConfig(t, topic)
	log := kafkatest.Logger(t)
	s := newSeen()
	h := kafka.Chain(func(_ context.Context, m *kafka.Message) error {
		if len(m.Value) > 2 {
			return kafka.Permanent(errors.New("not JSON"))
		}
		s.add(m)
		return nil
	}, kafka.DeadLetter(p, dlt, gc.Group, log), kafka.Retry(fastRetry(3), log), kafka.Recover(log))
	startConsumer(t, cfg, gc, h)

	kafkatest.Eventually(t, waitLong, func() bool { return s.has("ok") }, "the record behind the oversized poison one was not processed")
	parked := kafkatest.ReadN(t, cfg, dlt, 1, waitLong)[0]
	if got := parked.Header(kafka.HeaderDLTValueTruncated); got != strconv.Itoa(len(big)) {
		t.Errorf("header %s = %q, want the original length %d", kafka.HeaderDLTValueTruncated, got, len(big))
	}
	if n := len(parked.Value); n == 0 || n >= len(big) || !bytes.Equal(parked.Value, big[:n]) {
		t.Errorf("dead-letter value: %d bytes, want a leading part of the %d", n, len(big))
	}
	if parked.Header(kafka.HeaderDLTError) != "not JSON" {
		t.Errorf("dead-letter error %q", parked.Header(kafka.HeaderDLTError))
	}
}

// TestPublishRefusesABatchWithARecordTooLarge publishes a batch of a small
// record and one over the limit: nothing of it may be written, or the
// small one would stand without its companion.
func TestPublishRefusesABatchWithARecordTooLarge(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "too-large", 1)
	p := newProducer(t, cfg)
	err := p.Publish(context.Background(),
		kafka.Record{Topic: topic, Value: []byte("small")},
		kafka.Record{Topic: topic, Value: bytes.Repeat([]byte("x"), 1_048_300)},
	)
	if !errors.Is(err, kafka.ErrRecordTooLarge) {
		t.Fatalf("Publish = %v, want ErrRecordTooLarge", err)
	}
	if err := p.Publish(context.Background(), kafka.Record{Topic: topic, Value: []byte("after")}); err != nil {
		t.Fatal(err)
	}
	if got := kafkatest.ReadFor(t, cfg, topic, time.Second); len(got) != 1 || string(got[0].Value) != "after" {
		t.Errorf("topic holds %d records, want only the one published after", len(got))
	}
}
