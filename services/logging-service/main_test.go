package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
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
	"github.com/eventshop/eventshop/services/logging-service/internal/actionlog"
	"github.com/eventshop/eventshop/services/logging-service/internal/httpapi"
)

// These tests talk to a Kafka cluster: an embedded broker by default, the
// cluster in KAFKA_BROKERS when it is set.

const waitLong = 60 * time.Second

// getJSON fetches url into v and reports whether it answered 200. The
// answer must match api/openapi.yaml, or t fails.
func getJSON(t *testing.T, url string, v any) bool {
	docs, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{Transport: docs.Transport(t, nil)}).Do(req)
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
		return getJSON(t, "http://"+addr+"/readyz", nil)
	}, "GET /readyz never answered 200")
	// The container image's health check runs the binary this way.
	probe := []string{service.HealthcheckCommand, "--http-addr", addr}
	if err := run(t.Context(), probe, io.Discard); !errors.Is(err, service.ErrDone) {
		t.Errorf("run %v = %v, want service.ErrDone", probe, err)
	}

	pub := kafkatest.NewPublisher(t, cfg)
	// A service name of this run only, so a shared cluster's older actions
	// do not count.
	serviceName := kafkatest.Name(t, "service")
	poison := []byte("not json: " + serviceName)
	pubCtx, pubCancel := context.WithTimeout(t.Context(), waitLong)
	defer pubCancel()
	// The poison record shares the actions' key, so it sits in their
	// partition just before them: they are counted only if it did not block.
	poisonRecord := kafka.Record{Topic: contracts.TopicNewLoggingAction, Key: []byte(serviceName), Value: poison}
	pub.PublishInOrder(pubCtx, poisonRecord)
	actions := pub.Records(pubCtx,
		contracts.LoggingAction{ServiceName: serviceName, Action: contracts.ActionNewOrder},
		contracts.LoggingAction{ServiceName: serviceName, Action: contracts.ActionInventoryUpdated},
		contracts.LoggingAction{ServiceName: serviceName, Action: contracts.ActionInventoryUpdated},
	)
	// The new-order action comes twice, the same record with the same event
	// id, before the others: once they are counted, so is the repeat.
	pub.PublishInOrder(pubCtx, actions[0], actions[0], actions[1], actions[2])

	want := []actionlog.Count{
		{ServiceName: serviceName, Action: contracts.ActionInventoryUpdated, Count: 2},
		{ServiceName: serviceName, Action: contracts.ActionNewOrder, Count: 1},
	}
	var got []actionlog.Count
	kafkatest.Eventually(t, waitLong, func() bool {
		svc.FailIfExited(t)
		var s httpapi.Summary
		if !getJSON(t, "http://"+addr+"/actions", &s) {
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

// startApp runs the service's consumer wiring, as run builds it but with r
// as the recorder, on the cluster of cfg until the test ends or stop is
// called. Each call reads in a new consumer group, from the topic's
// beginning.
func startApp(t *testing.T, cfg kafka.Config, r *actionlog.Recorder) (stop func()) {
	t.Helper()
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
	if err := record(app, kafkatest.Name(t, "logging-service"), r); err != nil {
		cancel()
		t.Fatalf("record: %v", err)
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
	return stop
}

func TestConsumerCountsAnActionOncePerEventID(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	core, logs := observer.New(zapcore.DebugLevel)
	defaults := defaultConfig()
	recorder := actionlog.NewRecorder(zap.New(core), defaults.DedupeBounds())
	stopFirst := startApp(t, cfg, recorder)

	pub := kafkatest.NewPublisher(t, cfg)
	ctx, cancel := context.WithTimeout(t.Context(), waitLong)
	defer cancel()
	// A service name of this run only: every action below is keyed by it,
	// so all of them share a partition and are handled in order.
	serviceName := kafkatest.Name(t, "service")
	action := func(name string) contracts.LoggingAction {
		return contracts.LoggingAction{ServiceName: serviceName, Action: name}
	}
	// counts returns the counts of this run's service.
	counts := func() map[string]int {
		got := map[string]int{}
		for _, c := range recorder.Counts() {
			if c.ServiceName == serviceName {
				got[c.Action] = c.Count
			}
		}
		return got
	}

	// Two new-order actions (two orders: two event ids), the first of them
	// published twice (one event id); an inventory-updated action twice; an
	// action with no headers at all, as the tutorial's services send it,
	// twice. Then, behind them, one more action to wait for.
	recs := pub.Records(ctx, action(contracts.ActionNewOrder), action(contracts.ActionNewOrder), action(contracts.ActionInventoryUpdated))
	body, err := contracts.Encode(action("from-node"))
	if err != nil {
		t.Fatal(err)
	}
	bare := kafka.Record{Topic: contracts.TopicNewLoggingAction, Key: []byte(serviceName), Value: body}
	pub.PublishInOrder(ctx, recs[0], recs[0], recs[1], recs[2], recs[2], bare, bare)
	pub.PublishInOrder(ctx, pub.Records(ctx, action("first-pass-done"))...)
	var last map[string]int
	kafkatest.Eventually(t, waitLong, func() bool { last = counts(); return last["first-pass-done"] == 1 },
		"the action behind the repeats was never counted; last counts %v", &last)
	// The actions with an event id count exactly; those without count every
	// time they come, at least twice (a rebalance may deliver them again).
	check := func(when string, want map[string]int, wantBare int) {
		t.Helper()
		got := counts()
		if bare := got["from-node"]; bare < wantBare {
			t.Errorf("%s: counted %d actions without an event id, want at least %d", when, bare, wantBare)
		}
		delete(got, "from-node")
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: counts %v, want %v", when, got, want)
		}
	}
	want := map[string]int{contracts.ActionNewOrder: 2, contracts.ActionInventoryUpdated: 1, "first-pass-done": 1}
	check("first pass", want, 2)

	// Every record delivered again, at its own offset, to the same running
	// recorder, as after a rebalance that did not commit: a new group reads
	// the topic from its beginning. Only the actions without an event id
	// count again.
	stopFirst()
	startApp(t, cfg, recorder)
	pub.PublishInOrder(ctx, pub.Records(ctx, action("second-pass-done"))...)
	kafkatest.Eventually(t, waitLong, func() bool { last = counts(); return last["second-pass-done"] == 1 },
		"the action behind the redelivered ones was never counted; last counts %v", &last)
	want["second-pass-done"] = 1
	check("after redelivery", want, 4)

	// Neither is a repeat logged again: the log has a line per count.
	logged := logs.FilterMessage(fmt.Sprintf("Logging Service: serviceName: %s, action: %s", serviceName, contracts.ActionNewOrder))
	if n := logged.Len(); n != 2 {
		t.Errorf("logged %d new-order actions, want 2", n)
	}
	// The first pass dropped one new-order repeat, the second three (at
	// least: a rebalance may deliver a record again).
	dropped := logs.FilterMessage("action recorded before, repeat dropped").
		FilterField(zap.String("action", contracts.ActionNewOrder)).
		FilterField(zap.String("service_name", serviceName)).Len()
	if dropped < 4 {
		t.Errorf("logged %d new-order repeats, want at least 4", dropped)
	}
}
