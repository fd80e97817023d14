package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/metricstest"
)

// withMetrics returns cfg counting into a registry of its own.
func withMetrics(t *testing.T, cfg kafka.Config) (kafka.Config, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	m, err := kafka.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Metrics = m
	return cfg, reg
}

func TestNewMetricsRefusesARegistryThatHasThem(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	if _, err := kafka.NewMetrics(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := kafka.NewMetrics(reg); err == nil {
		t.Fatal("NewMetrics on a registry that has the metrics already succeeded, want an error")
	}
}

// TestConsumerCountsRecordsByOutcome runs the standard middleware over ten
// records: one fails twice before it is handled, one is poison. The
// counters must tell each outcome, the producer's what it published (the
// records and the dead letter), and the lag of both partitions ends at 0.
func TestConsumerCountsRecordsByOutcome(t *testing.T) {
	t.Parallel()
	cfg, reg := withMetrics(t, kafkatest.Config(t))
	topic := kafkatest.Topic(t, cfg, "outcomes", 2)
	dlt := kafkatest.Topic(t, cfg, "outcomes-dlt", 1)
	p := newProducer(t, cfg)
	publishN(t, p, topic, 0, 10)

	gc := kafkatest.GroupConfig(t, topic)
	log := kafkatest.Logger(t)
	var mu sync.Mutex
	failures := 0
	h := kafka.Chain(func(_ context.Context, m *kafka.Message) error {
		switch string(m.Value) {
		case "3":
			mu.Lock()
			defer mu.Unlock()
			if failures < 2 {
				failures++
				return errTransient
			}
		case "7":
			return kafka.Permanent(errors.New("poison"))
		}
		return nil
	}, kafka.DeadLetter(p, dlt, gc.Group, log), kafka.Retry(fastRetry(0), log), kafka.Recover(log))
	c, _ := startConsumer(t, cfg, gc, h)

	records := func(outcome string) func(metricstest.Metrics) float64 {
		return func(m metricstest.Metrics) float64 {
			return m.Sum("eventshop_consumer_records_total", "group", gc.Group, "topic", topic, "outcome", outcome)
		}
	}
	lag := func(m metricstest.Metrics) float64 { return m.Sum("eventshop_consumer_lag_records", "group", gc.Group) }
	want := []struct {
		name  string
		value func(metricstest.Metrics) float64
		want  float64
	}{
		{"records ok", records(kafka.OutcomeOK), 9},
		{"records retried", records(kafka.OutcomeRetried), 2},
		{"records dead-lettered", records(kafka.OutcomeDeadLettered), 1},
		{"handler calls", func(m metricstest.Metrics) float64 {
			return m.Sum("eventshop_consumer_handler_duration_seconds", "group", gc.Group, "topic", topic)
		}, 10},
		{"lag", lag, 0},
		{"lag series", func(m metricstest.Metrics) float64 {
			return float64(len(m.Series("eventshop_consumer_lag_records", "group", gc.Group, "topic", topic)))
		}, 2},
		{"assigned partitions", func(m metricstest.Metrics) float64 {
			return m.Sum("eventshop_consumer_assigned_partitions", "group", gc.Group)
		}, 2},
		{"records published", func(m metricstest.Metrics) float64 {
			return m.Sum("eventshop_producer_records_total", "topic", topic)
		}, 10},
		{"dead letters published", func(m metricstest.Metrics) float64 {
			return m.Sum("eventshop_producer_records_total", "topic", dlt)
		}, 1},
		{"batches published", func(m metricstest.Metrics) float64 { return m.Sum("eventshop_producer_batches_total") }, 2},
		{"publish latencies", func(m metricstest.Metrics) float64 { return m.Sum("eventshop_producer_duration_seconds") }, 2},
	}
	kafkatest.Eventually(t, waitLong, func() bool {
		m := metricstest.Gather(t, reg)
		for _, w := range want {
			if w.value(m) != w.want {
				return false
			}
		}
		return true
	}, "metrics never reached what was consumed:\n%v", stringer(func() string { return metricstest.Gather(t, reg).String() }))
	if len(c.Assignment()[topic]) != 2 {
		t.Errorf("the member owns %v, want both partitions", c.Assignment())
	}
	m := metricstest.Gather(t, reg)
	if n := m.Sum("eventshop_consumer_rebalances_total", "group", gc.Group); n < 1 {
		t.Errorf("rebalances = %g, want at least the first join", n)
	}
	if n := m.Sum("eventshop_producer_errors_total"); n != 0 {
		t.Errorf("producer errors = %g, want 0", n)
	}
}

// stringer formats as what f returns when the message is printed.
type stringer func() string

func (f stringer) String() string { return f() }

// TestBatchConsumerCountsDeadLettersApart has a batch handler dead-letter
// every fiftieth record itself: those are dead-lettered, the rest ok.
func TestBatchConsumerCountsDeadLettersApart(t *testing.T) {
	t.Parallel()
	cfg, reg := withMetrics(t, kafkatest.Config(t))
	topic := kafkatest.Topic(t, cfg, "batch-outcomes", 2)
	dlt := kafkatest.Topic(t, cfg, "batch-outcomes-dlt", 1)
	p := newProducer(t, cfg)
	const n = 200
	publishN(t, p, topic, 0, n)

	gc := kafkatest.GroupConfig(t, topic)
	dead := kafka.DeadLetters{Topic: dlt, Group: gc.Group}
	calls := 0
	var mu sync.Mutex
	startBatchConsumer(t, cfg, gc, func(context.Context, kafka.Claim) (kafka.BatchHandler, error) {
		return func(ctx context.Context, msgs []*kafka.Message) error {
			mu.Lock()
			calls++
			mu.Unlock()
			var recs []kafka.Record
			for _, m := range msgs {
				if v, _ := strconv.Atoi(string(m.Value)); v%50 == 7 {
					recs = append(recs, dead.Record(ctx, m, kafka.Permanent(errors.New("poison"))))
				}
			}
			return p.Publish(ctx, recs...)
		}, nil
	})

	records := func(m metricstest.Metrics, outcome string) float64 {
		return m.Sum("eventshop_consumer_records_total", "group", gc.Group, "outcome", outcome)
	}
	kafkatest.Eventually(t, waitLong, func() bool {
		m := metricstest.Gather(t, reg)
		return records(m, kafka.OutcomeOK) == n-n/50 && records(m, kafka.OutcomeDeadLettered) == n/50
	}, "records not counted as %d ok and %d dead-lettered:\n%v", n-n/50, n/50,
		stringer(func() string { return metricstest.Gather(t, reg).String() }))
	mu.Lock()
	defer mu.Unlock()
	m := metricstest.Gather(t, reg)
	if got := m.Sum("eventshop_consumer_handler_duration_seconds", "group", gc.Group); got != float64(calls) {
		t.Errorf("handler durations observed %g times for %d batch calls", got, calls)
	}
}

// TestLagCountsRecordsNotHandledYet holds the handler on a partition's
// first record: the lag is every record published, those published
// meanwhile included, and 0 once the handler goes on.
func TestLagCountsRecordsNotHandledYet(t *testing.T) {
	t.Parallel()
	cfg, reg := withMetrics(t, kafkatest.Config(t))
	topic := kafkatest.Topic(t, cfg, "lag", 1)
	p := newProducer(t, cfg)
	publishN(t, p, topic, 0, 5)

	release := make(chan struct{})
	gc := kafkatest.GroupConfig(t, topic)
	startConsumer(t, cfg, gc, func(ctx context.Context, _ *kafka.Message) error {
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	lag := func() float64 {
		return metricstest.Gather(t, reg).Sum("eventshop_consumer_lag_records", "group", gc.Group, "topic", topic, "partition", "0")
	}
	now := stringer(func() string { return fmt.Sprint(lag()) })
	kafkatest.Eventually(t, waitLong, func() bool { return lag() == 5 }, "lag = %v, want the 5 records published", now)
	publishN(t, p, topic, 5, 3)
	kafkatest.Eventually(t, waitLong, func() bool { return lag() == 8 }, "lag = %v after 3 more records, want 8", now)
	close(release)
	kafkatest.Eventually(t, waitLong, func() bool { return lag() == 0 }, "lag = %v after the drain, want 0", now)
}

// TestRebalanceMovesAssignedPartitionsAndTheirLag has a second member join
// and leave: each member's assigned partitions and lag series follow the
// partitions it owns, and each session it set up is a rebalance.
func TestRebalanceMovesAssignedPartitionsAndTheirLag(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Config(t)
	topic := kafkatest.Topic(t, kc, "moves", 2)
	gc := kafkatest.GroupConfig(t, topic)
	nop := func(context.Context, *kafka.Message) error { return nil }
	cfgA, regA := withMetrics(t, kc)
	cfgB, regB := withMetrics(t, kc)

	// owns reports the member's metrics: assigned partitions, lag series,
	// rebalances.
	owns := func(reg *prometheus.Registry) (assigned, series, rebalances float64) {
		m := metricstest.Gather(t, reg)
		return m.Sum("eventshop_consumer_assigned_partitions", "group", gc.Group),
			float64(len(m.Series("eventshop_consumer_lag_records", "group", gc.Group))),
			m.Sum("eventshop_consumer_rebalances_total", "group", gc.Group)
	}
	expect := func(who string, reg *prometheus.Registry, wantAssigned, wantRebalances float64) {
		t.Helper()
		kafkatest.Eventually(t, waitLong, func() bool {
			a, s, r := owns(reg)
			return a == wantAssigned && s == wantAssigned && r >= wantRebalances
		}, "member %s: assigned, lag series, rebalances = %v, want %g, %g, %g at least", who,
			stringer(func() string { a, s, r := owns(reg); return fmt.Sprint(a, s, r) }),
			wantAssigned, wantAssigned, wantRebalances)
	}

	a, stopA := startConsumer(t, cfgA, gc, nop)
	expect("A alone", regA, 2, 1)
	b, stopB := startConsumer(t, cfgB, gc, nop)
	waitForAPartitionEach(t, topic, a, b)
	expect("A beside B", regA, 1, 2)
	expect("B beside A", regB, 1, 1)
	if err := stopB(); err != nil {
		t.Fatal(err)
	}
	expect("B stopped", regB, 0, 1)
	expect("A after B left", regA, 2, 3)
	if err := stopA(); err != nil {
		t.Fatal(err)
	}
	expect("A stopped", regA, 0, 3)
}

// TestProducerCountsRecordsItRefuses publishes a record too large to send
// and one after Close: each is an error of its topic, none a record.
func TestProducerCountsRecordsItRefuses(t *testing.T) {
	t.Parallel()
	cfg, reg := withMetrics(t, kafkatest.Config(t))
	p := newProducer(t, cfg)
	big := kafka.Record{Topic: "big", Value: make([]byte, 2_000_000)}
	if err := p.Publish(context.Background(), big); !errors.Is(err, kafka.ErrRecordTooLarge) {
		t.Fatalf("Publish of 2 MB = %v, want ErrRecordTooLarge", err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish(context.Background(), kafka.Record{Topic: "late", Value: []byte("x")}); !errors.Is(err, kafka.ErrProducerClosed) {
		t.Fatalf("Publish after Close = %v, want ErrProducerClosed", err)
	}
	m := metricstest.Gather(t, reg)
	for _, topic := range []string{"big", "late"} {
		if got := m.Sum("eventshop_producer_errors_total", "topic", topic); got != 1 {
			t.Errorf("errors of topic %s = %g, want 1", topic, got)
		}
	}
	if got := m.Sum("eventshop_producer_records_total") + m.Sum("eventshop_producer_batches_total"); got != 0 {
		t.Errorf("records and batches published = %g, want none", got)
	}
}
