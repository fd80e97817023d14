// Package kafkatest gives integration tests a Kafka cluster and fresh names.
//
// By default each test gets its own embedded broker (package embedded), so
// `go test` needs nothing but Go. When KAFKA_BROKERS is set, tests run against
// that cluster instead, a real Apache Kafka for instance; every helper here
// then hands out unique topic and group names so runs never see each other's
// data.
package kafkatest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/embedded"
)

// EnvBrokers names the variable that points the tests at an external cluster.
const EnvBrokers = "KAFKA_BROKERS"

// External reports whether tests run against a cluster given in KAFKA_BROKERS.
func External() bool { return strings.TrimSpace(os.Getenv(EnvBrokers)) != "" }

// Brokers returns bootstrap addresses for a cluster this test may use: the
// ones in KAFKA_BROKERS, or an embedded broker started for this test and
// stopped when it ends.
func Brokers(tb testing.TB) []string {
	tb.Helper()
	if External() {
		var out []string
		for _, b := range strings.Split(os.Getenv(EnvBrokers), ",") {
			if b = strings.TrimSpace(b); b != "" {
				out = append(out, b)
			}
		}
		return out
	}
	b, err := embedded.Start(embedded.Options{})
	if err != nil {
		tb.Fatalf("start embedded broker: %v", err)
	}
	tb.Cleanup(b.Close)
	return []string{b.Addr()}
}

// Config returns a client configuration for Brokers(tb).
func Config(tb testing.TB) kafka.Config {
	tb.Helper()
	cfg := kafka.DefaultConfig(Brokers(tb)...)
	cfg.ClientID = "kafkatest"
	return cfg
}

var seq atomic.Int64

// Name returns a name unique to this test run, for a topic or a group.
func Name(tb testing.TB, prefix string) string {
	tb.Helper()
	// A topic name may hold only ASCII letters, digits, '.', '_' and '-'
	// (Apache Kafka refuses the rest; the embedded broker does not check).
	test := strings.Map(func(r rune) rune {
		if r < 0x80 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '.' || r == '_' || r == '-') {
			return r
		}
		return '-'
	}, tb.Name())
	if len(test) > 60 {
		test = test[:60]
	}
	return fmt.Sprintf("%s-%s-%d-%d", prefix, strings.ToLower(test), time.Now().UnixNano()%1e9, seq.Add(1))
}

// Topic creates a topic with a unique name and the given partition count and
// returns its name.
func Topic(tb testing.TB, cfg kafka.Config, prefix string, partitions int32) string {
	tb.Helper()
	name := Name(tb, prefix)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := kafka.EnsureTopics(ctx, cfg, zap.NewNop(),
		kafka.TopicSpec{Name: name, Partitions: partitions, ReplicationFactor: 1})
	if err != nil {
		tb.Fatalf("create topic %s: %v", name, err)
	}
	return name
}

// Logger returns a logger that writes to the test's log.
func Logger(tb testing.TB) *zap.Logger {
	return zaptest.NewLogger(tb, zaptest.Level(zap.InfoLevel))
}

// GroupConfig returns a consumer group configuration with a unique group id
// and timings short enough for tests; sarama's and the broker's lower bounds
// still apply.
func GroupConfig(tb testing.TB, topics ...string) kafka.GroupConfig {
	tb.Helper()
	gc := kafka.DefaultGroupConfig(Name(tb, "group"), topics...)
	gc.SessionTimeout = 6 * time.Second
	gc.HeartbeatInterval = time.Second
	gc.CommitInterval = 200 * time.Millisecond
	gc.ShutdownTimeout = 10 * time.Second
	return gc
}

// Eventually polls cond every 50ms until it returns true or timeout passes,
// then fails the test with msg.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, msg string, args ...any) {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %s: "+msg, append([]any{timeout}, args...)...)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
