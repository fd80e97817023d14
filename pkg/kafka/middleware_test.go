package kafka_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
	"github.com/eventshop/eventshop/pkg/kafka"
)

var errTransient = errors.New("broker away")

// failing returns a handler that fails with err for its first n calls and
// counts every call.
func failing(n int, err error, calls *int) kafka.Handler {
	return func(context.Context, *kafka.Message) error {
		*calls++
		if *calls <= n {
			return err
		}
		return nil
	}
}

func fastRetry(maxAttempts int) kafka.RetryPolicy {
	return kafka.RetryPolicy{MaxAttempts: maxAttempts, InitialBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond}
}

func TestRetry(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		failures      int
		err           error
		maxAttempts   int
		wantCalls     int
		wantErr       bool
		wantPermanent bool
	}{
		{name: "success needs one call", failures: 0, err: errTransient, maxAttempts: 5, wantCalls: 1},
		{name: "transient failures are retried until success", failures: 3, err: errTransient, maxAttempts: 5, wantCalls: 4},
		{name: "unlimited attempts keep going", failures: 20, err: errTransient, maxAttempts: 0, wantCalls: 21},
		{name: "exhausted attempts become permanent", failures: 10, err: errTransient, maxAttempts: 3, wantCalls: 3, wantErr: true, wantPermanent: true},
		{name: "permanent errors are not retried", failures: 10, err: kafka.Permanent(errTransient), maxAttempts: 5, wantCalls: 1, wantErr: true, wantPermanent: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			calls := 0
			h := kafka.Retry(fastRetry(tc.maxAttempts), zap.NewNop())(failing(tc.failures, tc.err, &calls))
			err := h(context.Background(), &kafka.Message{Topic: "t"})
			if calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
			}
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error: %v", err, tc.wantErr)
			}
			if err != nil && kafka.IsPermanent(err) != tc.wantPermanent {
				t.Errorf("IsPermanent(%v) = %v, want %v", err, kafka.IsPermanent(err), tc.wantPermanent)
			}
			if err != nil && !errors.Is(err, errTransient) {
				t.Errorf("err = %v, want it to wrap the handler's error", err)
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	h := kafka.Retry(kafka.RetryPolicy{InitialBackoff: time.Hour, MaxBackoff: time.Hour}, zap.NewNop())(
		func(context.Context, *kafka.Message) error {
			calls++
			cancel()
			return errTransient
		})
	err := h(ctx, &kafka.Message{})
	if !errors.Is(err, context.Canceled) || !errors.Is(err, errTransient) || kafka.IsPermanent(err) ||
		err.Error() != "retry abandoned: context canceled (last error: broker away)" {
		t.Fatalf("err = %v, want a transient error wrapping context.Canceled and the last error", err)
	}
	if calls != 1 {
		t.Errorf("calls = %d, want 1", calls)
	}
}

func TestRecoverTurnsPanicIntoPermanentError(t *testing.T) {
	t.Parallel()
	h := kafka.Recover(zap.NewNop())(func(context.Context, *kafka.Message) error { panic("boom") })
	err := h(context.Background(), &kafka.Message{})
	if !kafka.IsPermanent(err) || !strings.Contains(err.Error(), "panic: boom") {
		t.Fatalf("err = %v, want a permanent error saying panic: boom", err)
	}
}

func TestChainOrder(t *testing.T) {
	t.Parallel()
	var order []string
	mark := func(name string) kafka.Middleware {
		return func(next kafka.Handler) kafka.Handler {
			return func(ctx context.Context, m *kafka.Message) error {
				order = append(order, name)
				return next(ctx, m)
			}
		}
	}
	h := kafka.Chain(func(context.Context, *kafka.Message) error { order = append(order, "handler"); return nil },
		mark("outer"), mark("inner"))
	if err := h(context.Background(), &kafka.Message{}); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(order, ","); got != "outer,inner,handler" {
		t.Errorf("order = %s, want outer,inner,handler", got)
	}
}

func TestDeadLetter(t *testing.T) {
	t.Parallel()
	msg := &kafka.Message{Topic: "orders", Partition: 2, Offset: 41, Key: []byte("k"), Value: []byte("not json"),
		Headers: map[string]string{"correlation-id": "c-1"}}

	t.Run("permanent error is parked and reported handled", func(t *testing.T) {
		t.Parallel()
		pub := &eventbustest.Records{}
		h := kafka.DeadLetter(pub, "dlt", "g1", zap.NewNop())(func(context.Context, *kafka.Message) error {
			return kafka.Permanent(errors.New("orderId: required"))
		})
		if err := h(context.Background(), msg); err != nil {
			t.Fatalf("err = %v, want nil so the partition moves on", err)
		}
		records := pub.Published()
		if len(records) != 1 {
			t.Fatalf("published %d records, want 1", len(records))
		}
		r := records[0]
		want := map[string]string{
			"correlation-id":               "c-1",
			kafka.HeaderDLTOriginTopic:     "orders",
			kafka.HeaderDLTOriginPartition: "2",
			kafka.HeaderDLTOriginOffset:    "41",
			kafka.HeaderDLTError:           "orderId: required",
			kafka.HeaderDLTConsumerGroup:   "g1",
		}
		for k, v := range want {
			if r.Headers[k] != v {
				t.Errorf("header %s = %q, want %q", k, r.Headers[k], v)
			}
		}
		if _, err := time.Parse(time.RFC3339Nano, r.Headers[kafka.HeaderDLTFailedAt]); err != nil {
			t.Errorf("header %s: %v", kafka.HeaderDLTFailedAt, err)
		}
		if r.Topic != "dlt" || string(r.Key) != "k" || string(r.Value) != "not json" {
			t.Errorf("record = %s %q %q, want the original key and value on dlt", r.Topic, r.Key, r.Value)
		}
	})

	t.Run("transient error passes through", func(t *testing.T) {
		t.Parallel()
		pub := &eventbustest.Records{}
		h := kafka.DeadLetter(pub, "dlt", "g1", zap.NewNop())(func(context.Context, *kafka.Message) error { return errTransient })
		if err := h(context.Background(), msg); !errors.Is(err, errTransient) {
			t.Fatalf("err = %v, want %v", err, errTransient)
		}
		if n := len(pub.Published()); n != 0 {
			t.Errorf("published %d records, want none", n)
		}
	})

	t.Run("failed dead-letter publish is an error", func(t *testing.T) {
		t.Parallel()
		pub := &eventbustest.Records{Fail: func(int) error { return errors.New("dlt unavailable") }}
		h := kafka.DeadLetter(pub, "dlt", "g1", zap.NewNop())(func(context.Context, *kafka.Message) error {
			return kafka.Permanent(errors.New("bad"))
		})
		if err := h(context.Background(), msg); err == nil || kafka.IsPermanent(err) {
			t.Fatalf("err = %v, want a non-permanent error so the message is not marked", err)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*kafka.Config)
		wantErr string
	}{
		{name: "defaults are valid", mutate: func(*kafka.Config) {}},
		{name: "no brokers", mutate: func(c *kafka.Config) { c.Brokers = nil }, wantErr: "brokers"},
		{name: "broker without port", mutate: func(c *kafka.Config) { c.Brokers = []string{"localhost"} }, wantErr: "brokers"},
		{name: "version not parseable", mutate: func(c *kafka.Config) { c.Version = "four" }, wantErr: "version"},
		{name: "version below 2.1", mutate: func(c *kafka.Config) { c.Version = "2.0.0" }, wantErr: "older than"},
		{name: "version 2.1 accepted", mutate: func(c *kafka.Config) { c.Version = "2.1.0" }},
		{name: "empty client id", mutate: func(c *kafka.Config) { c.ClientID = " " }, wantErr: "client id"},
		{name: "zero dial timeout", mutate: func(c *kafka.Config) { c.DialTimeout = 0 }, wantErr: "dial timeout"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := kafka.DefaultConfig("localhost:29092")
			tc.mutate(&c)
			err := c.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestGroupConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		mutate  func(*kafka.GroupConfig)
		wantErr string
	}{
		{name: "defaults are valid", mutate: func(*kafka.GroupConfig) {}},
		{name: "no group", mutate: func(g *kafka.GroupConfig) { g.Group = "" }, wantErr: "group"},
		{name: "no topics", mutate: func(g *kafka.GroupConfig) { g.Topics = nil }, wantErr: "topics"},
		{name: "heartbeat not under session timeout", mutate: func(g *kafka.GroupConfig) { g.HeartbeatInterval = g.SessionTimeout }, wantErr: "heartbeat interval"},
		{name: "zero shutdown timeout", mutate: func(g *kafka.GroupConfig) { g.ShutdownTimeout = 0 }, wantErr: "shutdown timeout"},
		{name: "zero stuck after", mutate: func(g *kafka.GroupConfig) { g.StuckAfter = 0 }, wantErr: "stuck after"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			g := kafka.DefaultGroupConfig("g", "t")
			tc.mutate(&g)
			err := g.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tc.wantErr)
			}
		})
	}
}
