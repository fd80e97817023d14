package kafkatest_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// TestNameIsAValidTopicName: Apache Kafka takes only ASCII letters, digits,
// '.', '_' and '-' in a topic name, whatever the test's name holds.
func TestNameIsAValidTopicName(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
	t.Run("Consume, stderr's reader gone #2 (ünïcode)", func(t *testing.T) {
		if name := kafkatest.Name(t, "notified"); !valid.MatchString(name) || len(name) > 249 {
			t.Errorf("Name = %q, not a valid topic name", name)
		}
	})
}

// TestReadToEndSeesEveryRecordWritten: ReadToEnd returns every matching
// record written before it was called, on every partition, an empty one too.
func TestReadToEndSeesEveryRecordWritten(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "to-end", 3)
	var recs []kafka.Record
	for _, v := range []string{"a", "b", "a", "c"} {
		recs = append(recs, kafka.Record{Topic: topic, Value: []byte(v)}.OnPartition(0))
	}
	recs = append(recs, kafka.Record{Topic: topic, Value: []byte("a")}.OnPartition(1))
	kafkatest.NewPublisher(t, cfg).PublishInOrder(t.Context(), recs...)

	isA := func(m *kafka.Message) bool { return string(m.Value) == "a" }
	if got := kafkatest.ReadToEnd(t, cfg, topic, isA, 30*time.Second); len(got) != 3 {
		t.Errorf("ReadToEnd returned %d records with value a, want 3", len(got))
	}
	if got := kafkatest.ReadToEnd(t, cfg, topic, func(*kafka.Message) bool { return true }, 30*time.Second); len(got) != len(recs) {
		t.Errorf("ReadToEnd returned %d records, want %d", len(got), len(recs))
	}
}
