package kafka

import (
	"fmt"
	"time"

	"github.com/IBM/sarama"
)

// Record is what a Producer publishes.
type Record struct {
	Topic string
	// Key chooses the partition (murmur2, as the Java client does). A nil key
	// spreads records over partitions at random.
	Key     []byte
	Value   []byte
	Headers map[string]string

	// partition is where the record goes when explicit is set, whatever
	// its key; see OnPartition.
	partition int32
	explicit  bool
}

// size returns more than r takes in a produce request: its key, value and
// headers, and room for its framing.
func (r Record) size() int {
	return recordOverhead + len(r.Key) + len(r.Value) + headersSize(r.Headers)
}

// recordOverhead is more than a record's framing takes beside its key,
// value and headers.
const recordOverhead = 1024

func headersSize(headers map[string]string) int {
	n := 0
	for k, v := range headers {
		n += len(k) + len(v) + 10 // and their varint lengths
	}
	return n
}

// OnPartition returns r to be written to partition p of its topic rather
// than to the partition its key chooses: for a record that belongs beside a
// partition of another topic, such as a changelog's record of a batch.
func (r Record) OnPartition(p int32) Record {
	r.partition, r.explicit = p, true
	return r
}

// Partition returns the partition OnPartition set, and false for a record
// that goes where its key puts it.
func (r Record) Partition() (int32, bool) { return r.partition, r.explicit }

// Message is a record as a consumer received it.
type Message struct {
	Topic     string
	Partition int32
	Offset    int64
	Key       []byte
	Value     []byte
	Headers   map[string]string
	Timestamp time.Time
}

// Header returns the value of header name, or "" if it is absent.
func (m *Message) Header(name string) string { return m.Headers[name] }

func (r Record) toSarama() *sarama.ProducerMessage {
	pm := &sarama.ProducerMessage{Topic: r.Topic, Value: sarama.ByteEncoder(r.Value)}
	if r.explicit {
		pm.Partition, pm.Metadata = r.partition, explicitPartition{}
	}
	if r.Key != nil {
		pm.Key = sarama.ByteEncoder(r.Key)
	}
	if len(r.Headers) > 0 {
		pm.Headers = make([]sarama.RecordHeader, 0, len(r.Headers))
		for k, v := range r.Headers {
			pm.Headers = append(pm.Headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
		}
	}
	return pm
}

func messageFromSarama(cm *sarama.ConsumerMessage) *Message {
	m := &Message{
		Topic:     cm.Topic,
		Partition: cm.Partition,
		Offset:    cm.Offset,
		Key:       cm.Key,
		Value:     cm.Value,
		Timestamp: cm.Timestamp,
	}
	if len(cm.Headers) > 0 {
		m.Headers = make(map[string]string, len(cm.Headers))
		for _, h := range cm.Headers {
			// Kafka allows repeated header keys; the last one wins, as it does
			// for most HTTP-style header readers.
			m.Headers[string(h.Key)] = string(h.Value)
		}
	}
	return m
}

// KeyPartition returns the partition, of a topic with partitions
// partitions, that a record keyed key goes to: murmur2, as the Producer,
// the Java client and kafkajs all put it. With OnPartition, a record can be
// kept where its key belonged when the topic had that many partitions.
func KeyPartition(key []byte, partitions int32) int32 {
	p, _ := keyHash.Partition(&sarama.ProducerMessage{Key: sarama.ByteEncoder(key)}, partitions)
	return p
}

// keyHash partitions keyed records; it keeps no state for them.
var keyHash = sarama.NewMurmur2Partitioner("")

// explicitPartition marks a ProducerMessage whose Partition is set.
type explicitPartition struct{}

// partitioner sends a record marked explicitPartition to its partition and
// every other one where murmur2 puts its key, as the Java client does.
type partitioner struct{ murmur2 sarama.Partitioner }

func newPartitioner(topic string) sarama.Partitioner {
	return partitioner{murmur2: sarama.NewMurmur2Partitioner(topic)}
}

func (p partitioner) Partition(msg *sarama.ProducerMessage, partitions int32) (int32, error) {
	if _, ok := msg.Metadata.(explicitPartition); ok {
		if msg.Partition < 0 || msg.Partition >= partitions {
			return -1, fmt.Errorf("kafka: %s has no partition %d", msg.Topic, msg.Partition)
		}
		return msg.Partition, nil
	}
	return p.murmur2.Partition(msg, partitions)
}

func (p partitioner) RequiresConsistency() bool { return true }
