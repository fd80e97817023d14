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

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
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

// startApp runs the service's consumer wiring, as run builds it but with n
// as the notifier, until the test ends. It returns the cluster's client
// configuration, the consumer group and the dead-letter topic.
func startApp(t *testing.T, n notify.Notifier) (cfg kafka.Config, group, deadLetterTopic string) {
	t.Helper()
	cfg = kafkatest.Config(t)
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
	if err := consume(app, group, notify.NewService(n)); err != nil {
		cancel()
		t.Fatalf("consume: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("app.Run: %v", err)
		}
	})
	return cfg, group, base.DeadLetterTopic
}

func TestConsumerNotifiesAndDeadLettersPoison(t *testing.T) {
	t.Parallel()
	notifier := &recordingNotifier{}
	cfg, group, deadLetterTopic := startApp(t, notifier)

	order := contracts.SampleOrder()
	order.OrderID = kafkatest.Name(t, "ORDER")
	order.CustomerID = "CUSTOMER-7"
	empty := contracts.InventoryEmpty{ProductID: kafkatest.Name(t, "PRODUCT")}
	poison := []byte("not json: " + order.OrderID)

	producer, err := kafka.NewProducer(cfg)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	// The poison record shares the order's key, so it sits in the same
	// partition just before it: the order is processed only if the poison
	// did not block the partition.
	poisonRecord := kafka.Record{Topic: contracts.TopicNewOrder, Key: []byte(order.OrderID), Value: poison}
	if err := producer.Publish(ctx, poisonRecord); err != nil {
		t.Fatalf("publish poison: %v", err)
	}
	if err := eventbus.NewPublisher(producer, "test").Publish(ctx, order, empty); err != nil {
		t.Fatalf("publish events: %v", err)
	}

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

// TestRunServesHealthAndStopsCleanly runs the service as main does.
func TestRunServesHealthAndStopsCleanly(t *testing.T) {
	t.Parallel()
	brokers := kafkatest.Brokers(t)
	addr := servicetest.FreeAddr(t)
	svc := servicetest.Start(t, run, "--kafka-brokers", brokers[0], "--http-addr", addr, "--topic-partitions", "3",
		"--consumer-group", kafkatest.Name(t, "notification-service"))

	kafkatest.Eventually(t, waitLong, func() bool {
		svc.FailIfExited(t)
		resp, err := http.Get("http://" + addr + "/readyz")
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
