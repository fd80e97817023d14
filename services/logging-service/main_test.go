package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/pkg/service/servicetest"
	"github.com/eventshop/eventshop/services/logging-service/internal/actionlog"
)

// These tests talk to a Kafka cluster: an embedded broker by default, the
// cluster in KAFKA_BROKERS when it is set.

const waitLong = 60 * time.Second

// getJSON fetches url into v and reports whether it answered 200.
func getJSON(ctx context.Context, url string, v any) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	return v == nil || json.NewDecoder(resp.Body).Decode(v) == nil
}

// TestRunCountsActionsAndDeadLettersPoison runs the service as main does.
func TestRunCountsActionsAndDeadLettersPoison(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	addr := servicetest.FreeAddr(t)
	deadLetterTopic := kafka.DefaultDeadLetterTopic
	if kafkatest.External() {
		// A shared cluster holds other runs' dead letters.
		deadLetterTopic = kafkatest.Name(t, "dead-letter")
	}

	// A group of this run only: on a shared cluster the default group may
	// have members or commits of other runs.
	group := kafkatest.Name(t, "logging-service")
	svc := servicetest.Start(t, run,
		"--kafka-brokers", cfg.Brokers[0],
		"--consumer-group", group,
		"--http-addr", addr,
		"--topic-partitions", "3",
		"--dead-letter-topic", deadLetterTopic,
	)
	// Ready means the topics exist, so publishing cannot race their creation.
	kafkatest.Eventually(t, waitLong, func() bool {
		svc.FailIfExited(t)
		return getJSON(t.Context(), "http://"+addr+"/readyz", nil)
	}, "GET /readyz never answered 200")
	// The container image's health check runs the binary this way.
	probe := []string{service.HealthcheckCommand, "--http-addr", addr}
	if err := run(t.Context(), probe, io.Discard); !errors.Is(err, service.ErrDone) {
		t.Errorf("run %v = %v, want service.ErrDone", probe, err)
	}

	producer, err := kafka.NewProducer(cfg)
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	t.Cleanup(func() { _ = producer.Close() })
	// A service name of this run only, so a shared cluster's older actions
	// do not count.
	serviceName := kafkatest.Name(t, "service")
	poison := []byte("not json: " + serviceName)
	pubCtx, pubCancel := context.WithTimeout(t.Context(), waitLong)
	defer pubCancel()
	// The poison record shares the actions' key, so it sits in their
	// partition just before them: they are counted only if it did not block.
	poisonRecord := kafka.Record{Topic: contracts.TopicNewLoggingAction, Key: []byte(serviceName), Value: poison}
	if err := producer.Publish(pubCtx, poisonRecord); err != nil {
		t.Fatalf("publish poison: %v", err)
	}
	err = eventbus.NewPublisher(producer, "test").Publish(pubCtx,
		contracts.LoggingAction{ServiceName: serviceName, Action: contracts.ActionNewOrder},
		contracts.LoggingAction{ServiceName: serviceName, Action: contracts.ActionInventoryUpdated},
		contracts.LoggingAction{ServiceName: serviceName, Action: contracts.ActionInventoryUpdated},
	)
	if err != nil {
		t.Fatalf("publish actions: %v", err)
	}

	want := []actionlog.Count{
		{ServiceName: serviceName, Action: contracts.ActionInventoryUpdated, Count: 2},
		{ServiceName: serviceName, Action: contracts.ActionNewOrder, Count: 1},
	}
	var got []actionlog.Count
	kafkatest.Eventually(t, waitLong, func() bool {
		svc.FailIfExited(t)
		var s actionlog.Summary
		if !getJSON(t.Context(), "http://"+addr+"/actions", &s) {
			return false
		}
		got = got[:0]
		for _, c := range s.Actions {
			if c.ServiceName == serviceName {
				got = append(got, c)
			}
		}
		return reflect.DeepEqual(got, want)
	}, "GET /actions never counted %+v; last saw %+v", want, &got)

	// On a shared cluster, a group of this run also meets, and parks, other
	// runs' poison records: pick this run's out by its value.
	dead := kafkatest.ReadMatching(t, cfg, deadLetterTopic,
		func(m *kafka.Message) bool { return bytes.Equal(m.Value, poison) }, 1, waitLong)[0]
	for header, want := range map[string]string{
		kafka.HeaderDLTOriginTopic:   contracts.TopicNewLoggingAction,
		kafka.HeaderDLTConsumerGroup: group,
	} {
		if got := dead.Header(header); got != want {
			t.Errorf("dead letter header %s = %q, want %q", header, got, want)
		}
	}

	if err := svc.Stop(); err != nil {
		t.Errorf("run after stop: %v, want nil", err)
	}
}
