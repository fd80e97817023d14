package embedded_test

import (
	"net"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/pkg/kafka/embedded"
)

// TestDownAndUpKeepTheData takes the broker off the network and back: while
// it is down its port refuses connections and a client's open connection is
// cut; once it is up, on the same address, what was written before is there
// and the same client writes again.
func TestDownAndUpKeepTheData(t *testing.T) {
	b, err := embedded.Start(embedded.Options{Topics: []string{"t"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	sc.Producer.Retry.Max = 20
	sc.Producer.Retry.Backoff = 250 * time.Millisecond
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	client, err := sarama.NewClient([]string{b.Addr()}, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	producer, err := sarama.NewSyncProducerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if _, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "t", Value: sarama.StringEncoder("before")}); err != nil {
		t.Fatal(err)
	}

	b.Down()
	dialer := net.Dialer{Timeout: time.Second}
	if c, err := dialer.DialContext(t.Context(), "tcp", b.Addr()); err == nil {
		c.Close()
		t.Fatal("the port accepted a connection while the broker was down")
	}
	sent := make(chan error, 1)
	go func() {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "t", Value: sarama.StringEncoder("after")})
		sent <- err
	}()
	select {
	case err := <-sent:
		t.Fatalf("a send completed while the broker was down: %v", err)
	case <-time.After(time.Second):
	}
	if err := b.Up(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-sent; err != nil {
		t.Fatalf("send after the broker came back: %v", err)
	}

	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		t.Fatal(err)
	}
	defer consumer.Close()
	pc, err := consumer.ConsumePartition("t", 0, sarama.OffsetOldest)
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	var got []string
	for len(got) < 2 {
		select {
		case m := <-pc.Messages():
			got = append(got, string(m.Value))
		case <-time.After(10 * time.Second):
			t.Fatalf("read %q, want [before after]", got)
		}
	}
	if got[0] != "before" || got[1] != "after" {
		t.Fatalf("read %q, want [before after]", got)
	}
}

// TestFreezeHoldsRequestsUntilThaw: a frozen broker takes connections and
// answers nothing; after the thaw it answers what it held.
func TestFreezeHoldsRequestsUntilThaw(t *testing.T) {
	b, err := embedded.Start(embedded.Options{Topics: []string{"t"}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	sc := sarama.NewConfig()
	sc.Producer.Return.Successes = true
	producer, err := sarama.NewSyncProducer([]string{b.Addr()}, sc)
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()

	b.Freeze()
	dialer := net.Dialer{Timeout: time.Second}
	c, err := dialer.DialContext(t.Context(), "tcp", b.Addr())
	if err != nil {
		t.Fatalf("a frozen broker's port refused a connection: %v", err)
	}
	c.Close()
	sent := make(chan error, 1)
	go func() {
		_, _, err := producer.SendMessage(&sarama.ProducerMessage{Topic: "t", Value: sarama.StringEncoder("held")})
		sent <- err
	}()
	select {
	case err := <-sent:
		t.Fatalf("a send completed while the broker was frozen: %v", err)
	case <-time.After(2 * time.Second):
	}
	b.Thaw()
	select {
	case err := <-sent:
		if err != nil {
			t.Fatalf("send after the thaw: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the send held while frozen did not complete after the thaw")
	}
}
