package kafka_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
)

// txnProducer is a transactional sarama producer of the test's own, so that
// the reader is checked against records that were not written by this
// package.
func txnProducer(t *testing.T, cfg kafka.Config, id string) sarama.SyncProducer {
	t.Helper()
	return txnProducerTimeout(t, cfg, id, 10*time.Second)
}

// txnProducerTimeout is txnProducer with a transaction timeout of its own.
func txnProducerTimeout(t *testing.T, cfg kafka.Config, id string, timeout time.Duration) sarama.SyncProducer {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V4_0_0_0
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Transaction.ID = id
	sc.Producer.Transaction.Timeout = timeout
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	sc.Net.MaxOpenRequests = 1
	p, err := sarama.NewSyncProducer(cfg.Brokers, sc)
	if err != nil {
		t.Fatalf("transactional producer: %v", err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// inTxn sends values to partition 0 of topic in one transaction and commits
// or aborts it.
func inTxn(t *testing.T, p sarama.SyncProducer, topic string, commit bool, values ...string) {
	t.Helper()
	if err := p.BeginTxn(); err != nil {
		t.Fatalf("begin: %v", err)
	}
	send(t, p, topic, values...)
	end := p.CommitTxn
	if !commit {
		end = p.AbortTxn
	}
	if err := end(); err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
}

func send(t *testing.T, p sarama.SyncProducer, topic string, values ...string) {
	t.Helper()
	for _, v := range values {
		if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: topic, Partition: 0, Value: sarama.StringEncoder(v)}); err != nil {
			t.Fatalf("send %s: %v", v, err)
		}
	}
}

func readAll(t *testing.T, r *kafka.Reader, topic string) []string {
	t.Helper()
	var got []string
	n, err := r.ReadPartition(t.Context(), topic, 0, func(m *kafka.Message) error {
		got = append(got, string(m.Value))
		return nil
	})
	if err != nil {
		t.Fatalf("ReadPartition: %v", err)
	}
	if n != len(got) {
		t.Errorf("ReadPartition counted %d records, called back %d times", n, len(got))
	}
	return got
}

func newReader(t *testing.T, cfg kafka.Config) *kafka.Reader {
	t.Helper()
	r, err := kafka.NewReader(cfg)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// TestReadPartitionReadsCommittedRecordsToTheEnd interleaves committed and
// aborted transactions with plain records. The read must end (the last
// offset is a commit marker, never a record) with the committed and plain
// records only, in order.
func TestReadPartitionReadsCommittedRecordsToTheEnd(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "changelog", 1)
	txn := txnProducer(t, cfg, kafkatest.Name(t, "txn"))
	plain := newProducer(t, cfg)

	inTxn(t, txn, topic, true, "c1", "c2")
	inTxn(t, txn, topic, false, "a1", "a2", "a3")
	if err := plain.Publish(t.Context(), kafka.Record{Topic: topic, Value: []byte("p1")}.OnPartition(0)); err != nil {
		t.Fatal(err)
	}
	inTxn(t, txn, topic, false, "a4")
	inTxn(t, txn, topic, true, "c3")

	want := []string{"c1", "c2", "p1", "c3"}
	if got := readAll(t, newReader(t, cfg), topic); !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
}

// TestReadPartitionWaitsForAnOpenTransaction starts a read while a
// transaction is open: the read must wait for it and, once it commits,
// include its records. A read that stopped at the last stable offset
// would return only the record before the transaction.
func TestReadPartitionWaitsForAnOpenTransaction(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "changelog", 1)
	txn := txnProducer(t, cfg, kafkatest.Name(t, "txn"))
	inTxn(t, txn, topic, true, "before")
	if err := txn.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	send(t, txn, topic, "open-1", "open-2")

	r := newReader(t, cfg)
	read := make(chan []string, 1)
	go func() {
		var got []string
		_, err := r.ReadPartition(context.Background(), topic, 0, func(m *kafka.Message) error {
			got = append(got, string(m.Value))
			return nil
		})
		if err != nil {
			got = append(got, "error: "+err.Error())
		}
		read <- got
	}()
	select {
	case got := <-read:
		t.Fatalf("the read ended with %q while a transaction was open", got)
	case <-time.After(500 * time.Millisecond):
	}
	if err := txn.CommitTxn(); err != nil {
		t.Fatal(err)
	}
	want := []string{"before", "open-1", "open-2"}
	select {
	case got := <-read:
		if !slices.Equal(got, want) {
			t.Errorf("read %q, want %q", got, want)
		}
	case <-time.After(waitLong):
		t.Fatal("the read did not end after the transaction committed")
	}
}

// TestReadPartitionReadsRecordsLargerThanItsFirstFetch writes records of
// several megabytes each, more than a fetch asks for at first.
func TestReadPartitionReadsRecordsLargerThanItsFirstFetch(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "changelog", 1)
	txn := txnProducer(t, cfg, kafkatest.Name(t, "txn"))
	if err := txn.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 3 {
		v := strconv.Itoa(i) + string(make([]byte, 900_000))
		want = append(want, v)
		send(t, txn, topic, v)
	}
	if err := txn.CommitTxn(); err != nil {
		t.Fatal(err)
	}
	got := readAll(t, newReader(t, cfg), topic)
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("record %d differs: %d bytes, want %d", i, len(got[i]), len(want[i]))
		}
	}
}

// TestReadPartitionSkipsATransactionTheBrokerAborted abandons a transaction,
// as a producer killed in the middle of one does, while another producer
// commits transactions behind it: once the broker aborts it at its
// timeout, the read must hold everything the other committed, and nothing
// of the abandoned one.
func TestReadPartitionSkipsATransactionTheBrokerAborted(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "changelog", 1)
	killed := txnProducerTimeout(t, cfg, kafkatest.Name(t, "killed"), time.Second)
	live := txnProducer(t, cfg, kafkatest.Name(t, "live"))
	inTxn(t, live, topic, true, "c1")
	if err := killed.BeginTxn(); err != nil {
		t.Fatal(err)
	}
	send(t, killed, topic, "k1", "k2")
	var want []string
	want = append(want, "c1")
	for i := range 20 {
		v := fmt.Sprint("c", i+2)
		inTxn(t, live, topic, true, v)
		want = append(want, v)
	}
	if got := readAll(t, newReader(t, cfg), topic); !slices.Equal(got, want) {
		t.Errorf("read %q, want %q", got, want)
	}
}

// TestReadPartitionInterleavedTransactions interleaves the batches of
// transactions that abort with those of transactions that commit, as
// several producers writing one partition do, with records large enough
// that the read takes several fetches, some ending inside a transaction.
func TestReadPartitionInterleavedTransactions(t *testing.T) {
	t.Parallel()
	cfg := kafkatest.Config(t)
	topic := kafkatest.Topic(t, cfg, "changelog", 1)
	x := txnProducer(t, cfg, kafkatest.Name(t, "x"))
	y := txnProducer(t, cfg, kafkatest.Name(t, "y"))
	pad := strings.Repeat(".", 100_000)
	var want []string
	for round := range 30 {
		if err := x.BeginTxn(); err != nil {
			t.Fatal(err)
		}
		send(t, x, topic, fmt.Sprint("x", round, "a", pad))
		v := fmt.Sprint("y", round)
		inTxn(t, y, topic, true, v)
		want = append(want, v)
		send(t, x, topic, fmt.Sprint("x", round, "b", pad))
		end := x.AbortTxn
		if round%3 == 0 {
			end = x.CommitTxn
			want = append(want[:len(want)-1], fmt.Sprint("x", round, "a", pad), v, fmt.Sprint("x", round, "b", pad))
		}
		if err := end(); err != nil {
			t.Fatal(err)
		}
	}
	got := readAll(t, newReader(t, cfg), topic)
	short := func(vs []string) []string {
		out := make([]string, len(vs))
		for i, v := range vs {
			out[i], _, _ = strings.Cut(v, ".")
		}
		return out
	}
	if !slices.Equal(got, want) {
		t.Errorf("read %q,\nwant %q", short(got), short(want))
	}
}
