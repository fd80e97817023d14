package kafkatest

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/pkg/kafka"
)

// ReadN reads topic from the beginning of every partition, without a consumer
// group, until it has want records, and returns them (ordered within each
// partition). It fails the test if fewer arrive within timeout. It reads with
// plain sarama partition consumers, independent of kafka.Consumer, so tests of
// the consumer do not check it with itself.
func ReadN(tb testing.TB, cfg kafka.Config, topic string, want int, timeout time.Duration) []*kafka.Message {
	tb.Helper()
	return ReadMatching(tb, cfg, topic, func(*kafka.Message) bool { return true }, want, timeout)
}

// ReadMatching is ReadN counting only the records for which match is true,
// and returning only those. Tests on a shared cluster use it to pick their
// own records out of a topic that other runs write to as well.
func ReadMatching(tb testing.TB, cfg kafka.Config, topic string, match func(*kafka.Message) bool, want int, timeout time.Duration) []*kafka.Message {
	tb.Helper()
	got := read(tb, cfg, topic, match, want, timeout)
	if len(got) < want {
		tb.Fatalf("read %s: got %d matching records within %s, want %d", topic, len(got), timeout, want)
	}
	return got
}

// ReadFor reads every record of topic that arrives within d. Use it to check
// that nothing beyond an expected count was written.
func ReadFor(tb testing.TB, cfg kafka.Config, topic string, d time.Duration) []*kafka.Message {
	tb.Helper()
	return read(tb, cfg, topic, func(*kafka.Message) bool { return true }, -1, d)
}

func read(tb testing.TB, cfg kafka.Config, topic string, match func(*kafka.Message) bool, want int, timeout time.Duration) []*kafka.Message {
	tb.Helper()
	sc := sarama.NewConfig()
	sc.ClientID = "kafkatest-reader"
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	v, err := sarama.ParseKafkaVersion(cfg.Version)
	if err != nil {
		tb.Fatalf("kafka version: %v", err)
	}
	sc.Version = v
	consumer, err := sarama.NewConsumer(cfg.Brokers, sc)
	if err != nil {
		tb.Fatalf("reader: %v", err)
	}
	defer consumer.Close()
	partitions, err := consumer.Partitions(topic)
	if err != nil {
		tb.Fatalf("reader: partitions of %s: %v", topic, err)
	}

	var (
		mu   sync.Mutex
		got  []*kafka.Message
		full = make(chan struct{})
		once sync.Once
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	deadline := time.Now().Add(timeout)
	for _, p := range partitions {
		pc, err := consumePartition(consumer, topic, p, deadline)
		if err != nil {
			tb.Fatalf("reader: consume %s/%d: %v", topic, p, err)
		}
		wg.Go(func() {
			defer pc.Close()
			for {
				select {
				case <-stop:
					return
				case cm := <-pc.Messages():
					m := toMessage(cm)
					if !match(m) {
						continue
					}
					mu.Lock()
					got = append(got, m)
					if want >= 0 && len(got) >= want {
						once.Do(func() { close(full) })
					}
					mu.Unlock()
				}
			}
		})
	}
	select {
	case <-full:
	case <-time.After(timeout):
	}
	close(stop)
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	return got
}

// consumePartition starts reading a partition, retrying while the broker is
// not yet its leader: Apache Kafka reports a new partition's leader in its
// metadata a moment before that broker serves it.
func consumePartition(c sarama.Consumer, topic string, p int32, deadline time.Time) (sarama.PartitionConsumer, error) {
	for {
		pc, err := c.ConsumePartition(topic, p, sarama.OffsetOldest)
		if err == nil || time.Now().After(deadline) || !retriable(err) {
			return pc, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func retriable(err error) bool {
	return errors.Is(err, sarama.ErrNotLeaderForPartition) ||
		errors.Is(err, sarama.ErrLeaderNotAvailable) ||
		errors.Is(err, sarama.ErrUnknownTopicOrPartition) ||
		errors.Is(err, sarama.ErrOutOfBrokers)
}

func toMessage(cm *sarama.ConsumerMessage) *kafka.Message {
	m := &kafka.Message{Topic: cm.Topic, Partition: cm.Partition, Offset: cm.Offset,
		Key: cm.Key, Value: cm.Value, Timestamp: cm.Timestamp, Headers: map[string]string{}}
	for _, h := range cm.Headers {
		m.Headers[string(h.Key)] = string(h.Value)
	}
	return m
}
