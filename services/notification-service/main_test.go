package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/api/apicheck"
	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/pkg/service/servicetest"
	"github.com/eventshop/eventshop/services/notification-service/internal/notify"
)

// These tests talk to a Kafka cluster: an embedded broker by default, the
// cluster in KAFKA_BROKERS when it is set.

const waitLong = 60 * time.Second

// recordingNotifier records every notification it is asked to send.
type recordingNotifier struct {
	mu   sync.Mutex
	sent []notify.Notification
}

func (r *recordingNotifier) Notify(_ context.Context, n notify.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, n)
	return nil
}

// about returns the texts of the notifications about orderID or productID,
// in the order they were sent.
func (r *recordingNotifier) about(orderID, productID string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var texts []string
	for _, n := range r.sent {
		if n.OrderID == orderID || n.ProductID == productID {
			texts = append(texts, n.Text)
		}
	}
	return texts
}

// startApp runs the service's consumer wiring, as run builds it but with s
// as the service, until the test ends or stop is called. It returns the
// cluster's client configuration, the consumer group and the dead-letter
// topic. A cfg given is the cluster to use; the zero Config means a new
// one.
func startApp(t *testing.T, cfg kafka.Config, s *notify.Service) (_ kafka.Config, group, deadLetterTopic string, stop func()) {
	t.Helper()
	if len(cfg.Brokers) == 0 {
		cfg = kafkatest.Config(t)
	}
	base := service.DefaultBase("127.0.0.1:0")
	base.KafkaBrokers = cfg.Brokers
	base.KafkaStartupTimeout = waitLong
	base.TopicPartitions = 3
	if kafkatest.External() {
		// A shared cluster holds other runs' dead letters.
		base.DeadLetterTopic = kafkatest.Name(t, "dead-letter")
	}

	ctx, cancel := context.WithCancel(context.Background())
	app, err := service.New(ctx, name, base, kafkatest.Logger(t))
	if err != nil {
		cancel()
		t.Fatalf("service.New: %v", err)
	}
	// A group of this run only: on a shared cluster the default group may
	// have members or commits of other runs.
	group = kafkatest.Name(t, "notification-service")
	if err := consume(app, group, s); err != nil {
		cancel()
		t.Fatalf("consume: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	stop = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app.Run: %v", err)
		}
	})
	t.Cleanup(stop)
	return cfg, group, base.DeadLetterTopic, stop
}

// newService returns the service as run builds it, sending through n.
func newService(t *testing.T, n notify.Notifier) *notify.Service {
	cfg := defaultConfig()
	return notify.NewService(n, cfg.DedupeBounds(), kafkatest.Logger(t))
}

func TestConsumerNotifiesAndDeadLettersPoison(t *testing.T) {
	t.Parallel()
	notifier := &recordingNotifier{}
	cfg, group, deadLetterTopic, _ := startApp(t, kafka.Config{}, newService(t, notifier))

	order := contracts.SampleOrder()
	order.OrderID = kafkatest.Name(t, "ORDER")
	order.CustomerID = "CUSTOMER-7"
	empty := contracts.InventoryEmpty{ProductID: kafkatest.Name(t, "PRODUCT")}
	poison := []byte("not json: " + order.OrderID)

	pub := kafkatest.NewPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	// The poison record shares the order's key, so it sits in the same
	// partition just before it: the order is processed only if the poison
	// did not block the partition.
	poisonRecord := kafka.Record{Topic: contracts.TopicNewOrder, Key: []byte(order.OrderID), Value: poison}
	pub.PublishInOrder(ctx, poisonRecord)
	pub.PublishInOrder(ctx, pub.Records(ctx, order, empty)...)

	want := []string{
		"Congrats CUSTOMER-7, your order " + order.OrderID + " has been approved!",
		"Product " + empty.ProductID + " has to be REFILLED!",
	}
	kafkatest.Eventually(t, waitLong, func() bool {
		return len(notifier.about(order.OrderID, empty.ProductID)) >= len(want)
	}, "no notifications for %s and %s", order.OrderID, empty.ProductID)
	// The two events are in different topics, so they may arrive either way.
	got := notifier.about(order.OrderID, empty.ProductID)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("notified %q\nwant %q", got, want)
	}

	// On a shared cluster, a group of this run also meets, and parks, other
	// runs' poison records: pick this run's out by its value.
	dead := kafkatest.ReadMatching(t, cfg, deadLetterTopic,
		func(m *kafka.Message) bool { return bytes.Equal(m.Value, poison) }, 1, waitLong)[0]
	for header, want := range map[string]string{
		kafka.HeaderDLTOriginTopic:   contracts.TopicNewOrder,
		kafka.HeaderDLTConsumerGroup: group,
	} {
		if got := dead.Header(header); got != want {
			t.Errorf("dead letter header %s = %q, want %q", header, got, want)
		}
	}
}

// count returns how many notifications with text were sent.
func (r *recordingNotifier) count(text string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, s := range r.sent {
		if s.Text == text {
			n++
		}
	}
	return n
}

func TestConsumerNotifiesOncePerOrderAndRefillEvent(t *testing.T) {
	t.Parallel()
	notifier := &recordingNotifier{}
	core, logs := observer.New(zapcore.DebugLevel)
	defaults := defaultConfig()
	svc := notify.NewService(notifier, defaults.DedupeBounds(), zap.New(core))
	cfg, _, _, stopFirst := startApp(t, kafka.Config{}, svc)

	pub := kafkatest.NewPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	order := contracts.SampleOrder()
	order.OrderID = kafkatest.Name(t, "ORDER")
	order.CustomerID = "CUSTOMER-7"
	empty := contracts.InventoryEmpty{ProductID: kafkatest.Name(t, "PRODUCT")}
	congrats := func(o contracts.Order) string {
		return "Congrats CUSTOMER-7, your order " + o.OrderID + " has been approved!"
	}
	refill := "Product " + empty.ProductID + " has to be REFILLED!"
	// next returns another order in order's partition, which is handled
	// only after everything published there before it.
	next := func(suffix string) (contracts.Order, kafka.Record) {
		o := order
		o.OrderID += suffix
		r := pub.Records(ctx, o)[0]
		r.Key = []byte(order.OrderID)
		return o, r
	}

	// The order placed, the same record published again (the same event
	// id), the order placed again by a client retrying (another event id);
	// an inventory-empty event twice. Then, behind them in their
	// partitions, another order and the product running low again.
	recs := pub.Records(ctx, order, order, empty)
	after, afterRec := next("-after")
	pub.PublishInOrder(ctx, recs[0], recs[0], recs[1], recs[2], recs[2], afterRec)
	pub.PublishInOrder(ctx, pub.Records(ctx, empty)...)
	kafkatest.Eventually(t, waitLong, func() bool {
		return notifier.count(congrats(after)) == 1 && notifier.count(refill) >= 2
	}, "the order and inventory-empty events behind the repeats were not notified")
	if got := notifier.count(congrats(order)); got != 1 {
		t.Errorf("congratulated %d times on order %s, want once", got, order.OrderID)
	}
	if got := notifier.count(refill); got != 2 {
		t.Errorf("notified %d refills of %s, want 2: one per inventory-empty event", got, empty.ProductID)
	}

	// Every record delivered again, at its own offset, to the same running
	// service, as after a rebalance that did not commit: a new group reads
	// the topics from their beginning.
	stopFirst()
	startApp(t, cfg, svc)
	last, lastRec := next("-last")
	pub.PublishInOrder(ctx, lastRec)
	pub.PublishInOrder(ctx, pub.Records(ctx, empty)...)
	kafkatest.Eventually(t, waitLong, func() bool {
		return notifier.count(congrats(last)) == 1 && notifier.count(refill) >= 3
	}, "the order and inventory-empty events behind the redelivered ones were not notified")
	for text, want := range map[string]int{congrats(order): 1, congrats(after): 1, refill: 3} {
		if got := notifier.count(text); got != want {
			t.Errorf("notified %q %d times, want %d", text, got, want)
		}
	}

	// Two repeats of the order the first time, three the second (at least:
	// a rebalance may deliver a record again), each logged with its id.
	dropped := logs.FilterMessage("order congratulated before, repeat dropped").
		FilterField(zap.String("order_id", order.OrderID)).Len()
	if dropped < 5 {
		t.Errorf("logged %d repeats of order %s, want at least 5", dropped, order.OrderID)
	}
}

// TestRunServesHealthAndStopsCleanly runs the service as main does.
func TestRunServesHealthAndStopsCleanly(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.Brokers(t)
	addr := servicetest.FreeAddr(t)
	svc := servicetest.Start(t, run, "--kafka-brokers", brokers[0], "--http-addr", addr, "--topic-partitions", "3",
		"--consumer-group", kafkatest.Name(t, "notification-service"))

	docs, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	// Every answer must match api/openapi.yaml.
	client := &http.Client{Transport: docs.Transport(t, nil)}
	kafkatest.Eventually(t, waitLong, func() bool {
		svc.FailIfExited(t)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "GET /readyz never answered 200")
	// The container image's health check runs the binary this way.
	probe := []string{service.HealthcheckCommand, "--http-addr", addr}
	if err := run(t.Context(), probe, io.Discard); !errors.Is(err, service.ErrDone) {
		t.Errorf("run %v = %v, want service.ErrDone", probe, err)
	}

	if err := svc.Stop(); err != nil {
		t.Errorf("run after stop: %v, want nil", err)
	}
}
