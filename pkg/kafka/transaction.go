package kafka

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// ErrNoTransaction is returned by Transactions.Publish outside a batch of a
// transactional Consumer.
var ErrNoTransaction = errors.New("kafka: publish outside a transaction")

// Transactions is one transactional producer that a Consumer shares between
// the partitions it owns: every batch a handler returns nil for is committed
// with the batch's input offsets in one Kafka transaction, and handlers
// write their output into it with Publish. Read-committed readers then see
// each batch's output once, and only if its offsets were committed.
//
// The offsets go into the transaction with the consumer group's member id
// and generation (KIP-447), so the group coordinator refuses them from a
// member that the group has since left behind: one that stalled past its
// session timeout (a GC pause, a stopped VM, a network partition) and came
// back. Its transaction aborts, and nothing it wrote is ever read committed.
//
// Batches of different partitions that are under way together share one
// transaction, committed when the last of them is done (a group commit, as
// Kafka Streams commits all the tasks of a thread). If it aborts, each of
// them fails and is handled again from restored state.
type Transactions struct {
	cfg     Config
	id      string
	timeout time.Duration
	log     *zap.Logger

	mu   sync.Mutex
	wake *sync.Cond
	// producer is recreated after an error that leaves it unusable.
	producer sarama.AsyncProducer
	sendErr  error // the first failed send of the current transaction
	// txn is the transaction batches join, nil when none is open.
	txn *txn
}

// txn is one transaction: the batches that joined it and what they
// handled.
type txn struct {
	started time.Time
	meta    *sarama.ConsumerGroupMetadata
	running int  // batches joined and not done
	closing bool // a batch is done: the next ones wait for the commit
	failed  error
	offsets map[string][]*sarama.PartitionOffsetMetadata
	records map[string]float64 // sent, by topic
	result  chan struct{}      // closed once err is set
	err     error
}

// TransactionTimeout is how long a transaction may stay open before the
// broker aborts it, Kafka Streams' default under exactly-once. It bounds
// how long a member that crashed or stalled in a transaction holds back
// read-committed readers of the partitions it wrote to, and how long a
// new owner waits to restore them (see Reader.ReadPartition).
const TransactionTimeout = 10 * time.Second

// NewTransactions connects a transactional producer whose transactional id
// is id, which no other live process may share: two producers with one id
// fence each other. It fences a previous producer of the same id and
// aborts its open transaction.
func NewTransactions(cfg Config, id string, log *zap.Logger) (*Transactions, error) {
	t := &Transactions{cfg: cfg, id: id, timeout: TransactionTimeout, log: log.With(zap.String("transactional_id", id))}
	t.wake = sync.NewCond(&t.mu)
	p, err := t.connect()
	if err != nil {
		return nil, err
	}
	t.producer = p
	return t, nil
}

// connect makes a producer with t's transactional id. Its InitProducerId
// bumps the id's epoch, which fences every earlier producer of the id.
func (t *Transactions) connect() (sarama.AsyncProducer, error) {
	sc, err := t.cfg.sarama()
	if err != nil {
		return nil, err
	}
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Partitioner = newPartitioner
	sc.Producer.MaxMessageBytes = maxRecordBytes
	sc.Producer.Return.Errors = true
	sc.Producer.Retry.Max = 10
	sc.Producer.Retry.Backoff = 200 * time.Millisecond
	sc.Producer.Transaction.ID = t.id
	sc.Producer.Transaction.Timeout = t.timeout
	sc.Net.MaxOpenRequests = 1
	p, err := sarama.NewAsyncProducer(t.cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka: new transactional producer %s: %w", t.id, err)
	}
	go func() {
		for perr := range p.Errors() {
			t.mu.Lock()
			if t.sendErr == nil {
				t.sendErr = fmt.Errorf("kafka: publish to %s: %w", perr.Msg.Topic, perr.Err)
			}
			t.mu.Unlock()
		}
	}()
	return p, nil
}

// Publish sends records in the transaction of the batch being handled. It
// does not wait for them: the commit does, and fails if one of them
// failed. A record too large to send is refused with ErrRecordTooLarge
// before any of them is sent.
func (t *Transactions) Publish(ctx context.Context, records ...Record) error {
	for _, r := range records {
		if n := r.size(); n > maxRecordBytes {
			t.cfg.Metrics.refused(records)
			return fmt.Errorf("%w: a record for %s takes %d bytes, at most %d fit", ErrRecordTooLarge, r.Topic, n, maxRecordBytes)
		}
	}
	t.mu.Lock()
	tx, p := t.txn, t.producer
	if tx == nil || tx.running == 0 {
		t.mu.Unlock()
		return ErrNoTransaction
	}
	for _, r := range records {
		tx.records[r.Topic]++
	}
	t.mu.Unlock()
	for _, r := range records {
		select {
		case p.Input() <- r.toSarama():
		case <-ctx.Done():
			return fmt.Errorf("kafka: publish: %w", ctx.Err())
		}
	}
	return nil
}

// run handles one batch of a partition in the open transaction, beginning
// one if none is open, and returns once that transaction has ended: nil if
// it committed the batch's output and next as the partition's committed
// offset (with gc.OffsetMetadata), an error if it aborted. gc.BeforeCommit,
// if set, is called before the commit; an error from it aborts.
func (t *Transactions) run(sess sarama.ConsumerGroupSession, gc GroupConfig, topic string, partition int32, next int64,
	handle func() error) error {
	tx, err := t.join(sess, gc.Group)
	if err != nil {
		return err
	}
	herr := handle()

	t.mu.Lock()
	tx.running--
	tx.closing = true
	if herr != nil {
		if tx.failed == nil {
			tx.failed = fmt.Errorf("a batch of %s/%d failed: %w", topic, partition, herr)
		}
	} else {
		tx.offsets[topic] = append(tx.offsets[topic], &sarama.PartitionOffsetMetadata{
			Partition: partition, Offset: next, Metadata: &gc.OffsetMetadata})
	}
	last := tx.running == 0
	t.mu.Unlock()

	if last {
		t.end(tx, gc.BeforeCommit)
	}
	<-tx.result
	if herr != nil {
		return herr
	}
	return tx.err
}

// join adds a batch to the open transaction, waiting while one is being
// committed, and begins one if none is open.
func (t *Transactions) join(sess sarama.ConsumerGroupSession, group string) (*txn, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for t.txn != nil && t.txn.closing {
		t.wake.Wait()
	}
	if t.txn == nil {
		if t.producer.TxnStatus()&sarama.ProducerTxnFlagFatalError != 0 {
			// The last replacement failed (see abort): try again.
			p, err := t.connect()
			if err != nil {
				return nil, err
			}
			_ = t.producer.Close()
			t.producer = p
		}
		if err := t.producer.BeginTxn(); err != nil {
			return nil, fmt.Errorf("kafka: begin transaction: %w", err)
		}
		t.sendErr = nil
		t.txn = &txn{
			started: time.Now(),
			meta:    sarama.NewConsumerGroupMetadataFromSession(sess, group, nil),
			offsets: map[string][]*sarama.PartitionOffsetMetadata{},
			records: map[string]float64{},
			result:  make(chan struct{}),
		}
	}
	t.txn.running++
	return t.txn, nil
}

// end commits tx, or aborts it if a batch failed or the commit does; then
// it lets the batches waiting for the next transaction in.
func (t *Transactions) end(tx *txn, beforeCommit func() error) {
	err := tx.failed
	if err == nil && beforeCommit != nil {
		err = beforeCommit()
	}
	if err == nil {
		err = t.producer.AddOffsetsToTxnWithGroupMetadata(tx.offsets, tx.meta)
	}
	if err == nil {
		err = t.producer.CommitTxn()
	}
	if err != nil {
		t.mu.Lock()
		if t.sendErr != nil {
			err = errors.Join(err, t.sendErr)
		}
		t.mu.Unlock()
		err = t.abort(err)
	}
	t.cfg.Metrics.transaction(tx.records, err, time.Since(tx.started))

	t.mu.Lock()
	tx.err = err
	close(tx.result)
	t.txn = nil
	t.wake.Broadcast()
	t.mu.Unlock()
}

// abort aborts the open transaction after err and returns err, saying
// why. A producer that cannot abort (the broker fenced it: it stalled past
// the transaction timeout, or another producer took its id) is replaced by
// a new one.
func (t *Transactions) abort(err error) error {
	if errors.Is(err, sarama.ErrIllegalGeneration) || errors.Is(err, sarama.ErrUnknownMemberId) ||
		errors.Is(err, sarama.ErrFencedInstancedId) {
		err = fmt.Errorf("the consumer group has moved on (%w): the transaction is aborted", err)
	}
	if t.producer.TxnStatus()&sarama.ProducerTxnFlagFatalError == 0 {
		aerr := t.producer.AbortTxn()
		if aerr == nil {
			return fmt.Errorf("kafka: transaction aborted: %w", err)
		}
		err = errors.Join(err, fmt.Errorf("abort: %w", aerr))
	}
	t.log.Warn("transactional producer fenced or failed; replacing it", zap.Error(err))
	_ = t.producer.Close()
	p, cerr := t.connect()
	if cerr != nil {
		// Keep the failed producer: each next transaction fails at once
		// and tries again to replace it.
		return errors.Join(fmt.Errorf("kafka: transaction failed: %w", err), cerr)
	}
	t.producer = p
	return fmt.Errorf("kafka: transaction failed, producer replaced: %w", err)
}

// Close aborts an open transaction and disconnects. Call it once the
// consumer that uses t has stopped.
func (t *Transactions) Close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.producer.TxnStatus()&sarama.ProducerTxnFlagInTransaction != 0 {
		_ = t.producer.AbortTxn()
	}
	if err := t.producer.Close(); err != nil {
		return fmt.Errorf("kafka: close transactional producer %s: %w", t.id, err)
	}
	return nil
}
