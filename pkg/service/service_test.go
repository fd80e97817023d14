package service_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/pkg/service/servicetest"
)

type testConfig struct {
	service.Base
	Greeting string `config:"greeting" help:"what to say"`
}

func TestBaseValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*service.Base)
		wantKey string
	}{
		{"defaults are valid", func(*service.Base) {}, ""},
		{"no brokers", func(b *service.Base) { b.KafkaBrokers = nil }, "kafka_brokers"},
		{"broker without port", func(b *service.Base) { b.KafkaBrokers = []string{"kafka"} }, "kafka_brokers"},
		{"kafka version too old", func(b *service.Base) { b.KafkaVersion = "0.10.2.0" }, "kafka_version"},
		{"kafka version garbage", func(b *service.Base) { b.KafkaVersion = "latest" }, "kafka_version"},
		{"no partitions", func(b *service.Base) { b.TopicPartitions = 0 }, "topic_partitions"},
		{"partitions beyond int32", func(b *service.Base) { b.TopicPartitions = 4294967297 }, "topic_partitions"},
		{"partitions beyond the limit", func(b *service.Base) { b.TopicPartitions = 10001 }, "topic_partitions"},
		{"most partitions", func(b *service.Base) { b.TopicPartitions = 10000 }, ""},
		{"no replicas", func(b *service.Base) { b.TopicReplicationFactor = 0 }, "topic_replication_factor"},
		{"blank dead-letter topic", func(b *service.Base) { b.DeadLetterTopic = " " }, "dead_letter_topic"},
		{"http addr without port", func(b *service.Base) { b.HTTPAddr = "8000" }, "http_addr"},
		{"unknown log level", func(b *service.Base) { b.LogLevel = "loud" }, "log_level"},
		{"unknown log format", func(b *service.Base) { b.LogFormat = "xml" }, "log_format"},
		{"zero shutdown timeout", func(b *service.Base) { b.ShutdownTimeout = 0 }, "shutdown_timeout"},
		{"zero startup timeout", func(b *service.Base) { b.KafkaStartupTimeout = 0 }, "kafka_startup_timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b := service.DefaultBase(":8000")
			tc.mutate(&b)
			err := b.Validate()
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			var fe *config.FieldError
			if !errors.As(err, &fe) || fe.Key != tc.wantKey {
				t.Fatalf("Validate() = %v, want a field error for %s", err, tc.wantKey)
			}
		})
	}
}

func TestSetupHelpListsSharedAndOwnKeys(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	cfg := testConfig{Base: service.DefaultBase(":8000"), Greeting: "hi"}
	_, err := service.Setup("test-service", []string{"--help"}, &out, &cfg)
	if !errors.Is(err, config.ErrHelp) {
		t.Fatalf("Setup(--help) = %v, want config.ErrHelp", err)
	}
	for _, want := range []string{"KAFKA_BROKERS", "HTTP_ADDR", "LOG_LEVEL", "LOG_FORMAT", "GREETING", "--kafka-brokers", "localhost:29092"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("usage does not mention %s:\n%s", want, out.String())
		}
	}
}

func TestSetupRejectsBadFlagNamingTheKey(t *testing.T) {
	t.Parallel()
	cfg := testConfig{Base: service.DefaultBase(":8000")}
	_, err := service.Setup("test-service", []string{"--log-format=xml"}, &bytes.Buffer{}, &cfg)
	if err == nil || !strings.Contains(err.Error(), "log_format") {
		t.Fatalf("Setup = %v, want an error naming log_format", err)
	}
}

func TestAppServesHealthConsumesAndStops(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Config(t)
	base := service.DefaultBase("127.0.0.1:0")
	base.KafkaBrokers = kc.Brokers
	base.DeadLetterTopic = kafkatest.Name(t, "dlt")
	base.ShutdownTimeout = 10 * time.Second
	log := kafkatest.Logger(t)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	app, err := service.New(ctx, "test-service", base, log)
	if err != nil {
		t.Fatal(err)
	}
	var got atomic.Int32
	group := kafkatest.Name(t, "group")
	err = app.Consume(group, []string{contracts.TopicInventoryEmpty}, func(context.Context, *kafka.Message) error {
		got.Add(1)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	// The topics, the dead-letter one included, exist now.
	if err := app.Events.Publish(ctx, contracts.InventoryEmpty{ProductID: "P-1"}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	kafkatest.Eventually(t, 60*time.Second, func() bool { return got.Load() >= 1 }, "consumer got nothing")

	// The binary's own health check, as a container runs it.
	probeCfg := testConfig{Base: service.DefaultBase(":8000")}
	if _, err := service.Setup("test-service", []string{service.HealthcheckCommand, "--http-addr", app.HTTPAddr()}, &bytes.Buffer{}, &probeCfg); !errors.Is(err, service.ErrDone) {
		t.Errorf("healthcheck of a running service = %v, want ErrDone", err)
	}

	for _, path := range []string{"/healthz", "/readyz"} {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, fmt.Sprintf("http://%s%s", app.HTTPAddr(), path), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil after a graceful stop", err)
		}
	case <-time.After(base.ShutdownTimeout + 5*time.Second):
		t.Fatal("Run did not stop")
	}
}

func TestHealthcheckFailsWhenNothingListens(t *testing.T) {
	t.Parallel()
	cfg := testConfig{Base: service.DefaultBase(":8000")}
	_, err := service.Setup("test-service", []string{service.HealthcheckCommand, "--http-addr", servicetest.FreeAddr(t)}, &bytes.Buffer{}, &cfg)
	if err == nil || errors.Is(err, service.ErrDone) {
		t.Fatalf("healthcheck with nothing listening = %v, want an error", err)
	}
}

func TestNewFailsAtOnceWhenTheHTTPPortIsTaken(t *testing.T) {
	t.Parallel()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	base := service.DefaultBase(ln.Addr().String())
	_, err = service.New(context.Background(), "test-service", base, kafkatest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "http_addr") {
		t.Fatalf("New = %v, want an error naming http_addr", err)
	}
}

func TestNewStopsCleanlyWhenStoppedWhileWaitingForKafka(t *testing.T) {
	t.Parallel()
	base := service.DefaultBase("127.0.0.1:0")
	base.KafkaBrokers = []string{servicetest.FreeAddr(t)} // nothing listens there
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel) // the SIGTERM
	_, err := service.New(ctx, "test-service", base, kafkatest.Logger(t))
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("New = %v, want context.Canceled, which Main treats as the clean stop a signal asked for", err)
	}
}

func TestNewGivesUpWhenKafkaNeverAnswers(t *testing.T) {
	t.Parallel()
	base := service.DefaultBase("127.0.0.1:0")
	base.KafkaBrokers = []string{servicetest.FreeAddr(t)} // nothing listens there
	base.KafkaStartupTimeout = time.Second
	_, err := service.New(context.Background(), "test-service", base, kafkatest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "not available") || !strings.Contains(err.Error(), base.KafkaBrokers[0]) {
		t.Fatalf("New = %v, want an error saying Kafka at %s is not available", err, base.KafkaBrokers[0])
	}
}
