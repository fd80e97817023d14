package kafkatest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/pkg/kafka"
)

// ReadN reads topic from the beginning of every partition, without a consumer
// group, until it has at least want records, and returns what it has by then
// (ordered within each partition): partitions read at once may deliver a few
// more. Like every reader here it reads committed records only. It fails
// the test if fewer arrive within timeout. To see that no extra record was
// written, use ReadToEnd. It reads with
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

// ReadToEnd reads every partition of topic from its beginning to its end as
// it is when ReadToEnd is called, once every transaction then open has
// ended (see kafka.Reader.ReadPartition), and returns the committed records
// for which match is true. Unlike ReadMatching it does not stop at a count,
// so a test that wants exactly n records, all of them written by now, sees
// an extra one too. It fails the test if the end is not reached within
// timeout.
func ReadToEnd(tb testing.TB, cfg kafka.Config, topic string, match func(*kafka.Message) bool, timeout time.Duration) []*kafka.Message {
	tb.Helper()
	r, err := kafka.NewReader(cfg)
	if err != nil {
		tb.Fatalf("reader: %v", err)
	}
	defer func() { _ = r.Close() }()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	n, err := r.Partitions(topic)
	if err != nil {
		tb.Fatalf("reader: %v", err)
	}
	var (
		mu   sync.Mutex
		got  []*kafka.Message
		errs = make([]error, n)
		wg   sync.WaitGroup
	)
	for p := range n {
		wg.Go(func() {
			_, errs[p] = r.ReadPartition(ctx, topic, int32(p), func(m *kafka.Message) error { //nolint:gosec // a partition count fits an int32
				if match(m) {
					mu.Lock()
					got = append(got, m)
					mu.Unlock()
				}
				return nil
			})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		tb.Fatalf("read %s to its end within %s: %v", topic, timeout, err)
	}
	return got
}

// reader reads a topic's partitions with plain sarama.
type reader struct {
	client     sarama.Client
	consumer   sarama.Consumer
	partitions []int32
}

func (r reader) close() {
	_ = r.consumer.Close()
	_ = r.client.Close()
}

// newReader connects a reader for topic, which the caller closes.
func newReader(tb testing.TB, cfg kafka.Config, topic string) reader {
	tb.Helper()
	sc := sarama.NewConfig()
	sc.ClientID = "kafkatest-reader"
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	// What the shop's consumers see: never a record of a transaction that
	// aborted or is still open.
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	v, err := sarama.ParseKafkaVersion(cfg.Version)
	if err != nil {
		tb.Fatalf("kafka version: %v", err)
	}
	sc.Version = v
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		tb.Fatalf("reader: %v", err)
	}
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		client.Close()
		tb.Fatalf("reader: %v", err)
	}
	partitions, err := client.Partitions(topic)
	if err != nil {
		consumer.Close()
		client.Close()
		tb.Fatalf("reader: partitions of %s: %v", topic, err)
	}
	return reader{client: client, consumer: consumer, partitions: partitions}
}

func read(tb testing.TB, cfg kafka.Config, topic string, match func(*kafka.Message) bool, want int, timeout time.Duration) []*kafka.Message {
	tb.Helper()
	r := newReader(tb, cfg, topic)
	defer r.close()
	var (
		mu   sync.Mutex
		got  []*kafka.Message
		full = make(chan struct{})
		once sync.Once
		wg   sync.WaitGroup
		stop = make(chan struct{})
	)
	deadline := time.Now().Add(timeout)
	for _, p := range r.partitions {
		pc, err := consumePartition(r.consumer, topic, p, deadline)
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
