package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
	"github.com/eventshop/eventshop/services/inventory-service/internal/pipeline"
)

// TestPublishThatKeepsFailingGivesWayToARebalanceOrAStop runs the pipeline
// as a member of its group while every publish fails, as when the leaders
// of its output partitions are away, and gives it an order to split. The
// consumer retries the batch until it wants its partitions back: a second
// member joining, or a stop, must end the retry in seconds, not when the
// rebalance or shutdown timeout runs out.
func TestPublishThatKeepsFailingGivesWayToARebalanceOrAStop(t *testing.T) {
	t.Parallel()
	t.Run("a second member joins", func(t *testing.T) {
		t.Parallel()
		f := newFailingInventory(t)
		f.start(t) // A
		f.placeOrderAndWaitForRetries(t)

		joined := time.Now()
		b := f.start(t)
		kafkatest.Eventually(t, 10*time.Second, func() bool { return len(b.opened()) > 0 },
			"the second member got no partition: the first held the rebalance")
		t.Logf("the second member got %v after %s", b.opened(), time.Since(joined).Round(10*time.Millisecond))
	})
	t.Run("the member stops", func(t *testing.T) {
		t.Parallel()
		f := newFailingInventory(t)
		m := f.start(t)
		f.placeOrderAndWaitForRetries(t)

		began := time.Now()
		if err := m.stop(); err != nil {
			t.Fatalf("Run = %v, want a clean stop", err)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("the stop took %s: the failing publish held it", took.Round(10*time.Millisecond))
		}
		t.Logf("stopped in %s", time.Since(began).Round(10*time.Millisecond))
	})
}

var errLeaderAway = errors.New("kafka: publish: leader not available")

// failingInventory is an inventory's consumer group on a broker, whose
// members publish with pub.
type failingInventory struct {
	kcfg  kafka.Config
	set   pipeline.Settings
	group kafka.GroupConfig
	pub   *eventbustest.Records // fails every publish
}

func newFailingInventory(t *testing.T) *failingInventory {
	t.Helper()
	kcfg := kafkatest.Config(t)
	group := kafkatest.Name(t, "inventory")
	topics := pipeline.TopicsFor(group)
	topics.Orders = kafkatest.Topic(t, kcfg, "orders", 1)
	set := pipeline.Settings{
		Group:   group,
		Topics:  topics,
		Initial: map[string]int{"PRODUCT-1": 100},
		Policy:  inventory.Policy{Threshold: 10, RefillLevel: 100},
		Orders:  inventory.Bounds{Window: time.Hour, Limit: 1000, MaxBytes: 1 << 20},
	}
	pipe := pipeline.New(set, nil, nil, kafka.DeadLetters{}, kafkatest.Logger(t))
	onePartition := func(name string, configs map[string]string) kafka.TopicSpec {
		return kafka.TopicSpec{Name: name, Partitions: 1, ReplicationFactor: 1, Configs: configs}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := kafka.EnsureTopics(ctx, kcfg, kafkatest.Logger(t), pipe.TopicSpecs(onePartition)...); err != nil {
		t.Fatalf("topics: %v", err)
	}
	gc := kafkatest.GroupConfig(t, pipe.Topics()...)
	// Handlers' contexts end three quarters into this: only the consumer
	// saying it is stopping can end a retry sooner.
	gc.ShutdownTimeout = 30 * time.Second
	return &failingInventory{kcfg: kcfg, set: set, group: gc, pub: &eventbustest.Records{Fail: func(int) error { return errLeaderAway }}}
}

// member is one running member of a failingInventory.
type member struct {
	// stop stops the member and returns what its consumer's Run returned.
	stop func() error

	mu     sync.Mutex
	claims []kafka.Claim
}

// opened returns the partitions the member has started on.
func (m *member) opened() []kafka.Claim {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.claims)
}

// start runs a member until the test ends.
func (f *failingInventory) start(t *testing.T) *member {
	t.Helper()
	reader, err := kafka.NewReader(f.kcfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reader.Close() })
	log := kafkatest.Logger(t)
	pipe := pipeline.New(f.set, eventbus.NewPublisher(f.pub, contracts.ServiceInventory), reader,
		kafka.DeadLetters{Topic: kafka.DefaultDeadLetterTopic, Group: f.group.Group}, log)
	if err := pipe.Pin(context.Background()); err != nil {
		t.Fatal(err)
	}
	m := &member{}
	open := func(ctx context.Context, claim kafka.Claim) (kafka.BatchHandler, error) {
		m.mu.Lock()
		m.claims = append(m.claims, claim)
		m.mu.Unlock()
		// The member publishes with f.pub rather than in transactions, to
		// fail every publish.
		claim.Out = f.pub
		return pipe.Open(ctx, claim)
	}
	c, err := kafka.NewBatchConsumer(f.kcfg, f.group, open, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	m.stop = sync.OnceValue(func() error { cancel(); return <-done })
	t.Cleanup(func() { _ = m.stop() })
	return m
}

// placeOrderAndWaitForRetries places an order and waits until its split
// has failed to publish twice.
func (f *failingInventory) placeOrderAndWaitForRetries(t *testing.T) {
	t.Helper()
	p, err := kafka.NewProducer(f.kcfg)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	order := kafka.Record{Topic: f.set.Topics.Orders, Key: []byte("ORDER-1"),
		Value: []byte(`{"orderId":"ORDER-1","customerId":"C-1","products":[{"productId":"PRODUCT-1","quantity":2,"totalPrice":20}]}`)}
	if err := p.Publish(context.Background(), order); err != nil {
		t.Fatal(err)
	}
	kafkatest.Eventually(t, time.Minute, func() bool { return len(f.pub.Calls()) >= 2 },
		"the order's split was not retried")
}
