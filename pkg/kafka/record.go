package kafka

import (
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
}

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
