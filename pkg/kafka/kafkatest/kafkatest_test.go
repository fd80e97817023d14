package kafkatest_test

import (
	"regexp"
	"testing"

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
