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

// ErrNoTransaction is returned by a claim's Out publisher outside a batch.
var ErrNoTransaction = errors.New("kafka: publish outside a transaction")

// errFenced marks the failure of a transactional producer that can no
// longer be used: the broker fenced it (another producer took its id, or
// its transaction outlived the timeout) or another fatal error.
var errFenced = errors.New("kafka: transactional producer fenced")

// TransactionTimeout is how long a transaction may stay open before the
// broker aborts it, Kafka Streams' default under exactly-once. A member
// that crashes or stalls in a transaction has it aborted as soon as the
// next owner of its partition starts (see partitionTxns); the timeout
// bounds how long it holds back read-committed readers when no other
// member takes over (it was the only one).
const TransactionTimeout = 10 * time.Second

// partitionTxns is the transactional producer of one claimed partition
// (GroupConfig.TransactionalID): each batch of the partition that its
// handler returns nil for is committed with the batch's input offsets in
// one Kafka transaction, and the handler writes its output into it with
// Publish. Read-committed readers then see each batch's output once, and
// only if its offsets were committed.
//
// Two things fence a member that the group has left behind, one that
// stalled past its session timeout (a GC pause, a stopped VM, a network
// partition) and came back:
//
//   - its transactional id is the partition's, so the partition's next
//     owner, starting on it, bumps the id's epoch: the broker aborts the
//     stalled member's open transaction at once and refuses anything it
//     sends after;
//   - the offsets go into the transaction with the group's member id and
//     generation (KIP-447), so the group coordinator refuses them from a
//     member of a past generation.
//
// One producer a partition, rather than one a process, lets the partitions
// commit independently: none waits for another's commit.
type partitionTxns struct {
	cfg Config
	id  string
	log *zap.Logger

	producer sarama.AsyncProducer

	mu      sync.Mutex
	open    bool               // a batch is being handled
	sendErr error              // the first failed send of the open transaction
	records map[string]float64 // sent in the open transaction, by topic
}

// newPartitionTxns connects a transactional producer with transactional id
// id. Its InitProducerId fences every earlier producer of the id and aborts
// its open transaction.
func newPartitionTxns(cfg Config, id string, log *zap.Logger) (*partitionTxns, error) {
	t := &partitionTxns{cfg: cfg, id: id, log: log.With(zap.String("transactional_id", id))}
	p, err := t.connect()
	if err != nil {
		return nil, err
	}
	t.producer = p
	return t, nil
}

func (t *partitionTxns) connect() (sarama.AsyncProducer, error) {
	sc, err := t.cfg.producerConfig()
	if err != nil {
		return nil, err
	}
	sc.Producer.Transaction.ID = t.id
	sc.Producer.Transaction.Timeout = TransactionTimeout
	// A new transaction's AddPartitionsToTxn meets CONCURRENT_TRANSACTIONS
	// while the broker still writes the last one's markers: ask again soon.
	sc.Producer.Transaction.Retry.Backoff = 5 * time.Millisecond
	sc.Producer.Transaction.Retry.Max = 1000
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
func (t *partitionTxns) Publish(ctx context.Context, records ...Record) error {
	if err := checkSizes(records, t.cfg.Metrics); err != nil {
		return err
	}
	t.mu.Lock()
	if !t.open {
		t.mu.Unlock()
		return ErrNoTransaction
	}
	for _, r := range records {
		t.records[r.Topic]++
	}
	t.mu.Unlock()
	for _, r := range records {
		select {
		case t.producer.Input() <- r.toSarama():
		case <-ctx.Done():
			return fmt.Errorf("kafka: publish: %w", ctx.Err())
		}
	}
	return nil
}

// run handles one batch of topic/partition in a transaction and returns
// once it has ended: nil if it committed what handle published and next,
// with gc.OffsetMetadata, as the partition's committed offset; an error if
// it aborted. gc.BeforeCommit, if set, is called before the commit; an
// error from it aborts.
func (t *partitionTxns) run(sess sarama.ConsumerGroupSession, gc GroupConfig, topic string, partition int32, next int64,
	handle func() error) error {
	started := time.Now()
	if t.producer.TxnStatus()&sarama.ProducerTxnFlagFatalError != 0 {
		return fmt.Errorf("%w: %w", errFenced, t.producer.BeginTxn())
	}
	if err := t.producer.BeginTxn(); err != nil {
		return fmt.Errorf("kafka: begin transaction: %w", err)
	}
	t.mu.Lock()
	t.open, t.sendErr, t.records = true, nil, map[string]float64{}
	t.mu.Unlock()

	err := handle()

	t.mu.Lock()
	t.open = false
	records := t.records
	t.mu.Unlock()
	if err == nil && gc.BeforeCommit != nil {
		err = gc.BeforeCommit()
	}
	if err == nil {
		offsets := map[string][]*sarama.PartitionOffsetMetadata{topic: {
			{Partition: partition, Offset: next, Metadata: &gc.OffsetMetadata}}}
		err = t.producer.AddOffsetsToTxnWithGroupMetadata(offsets,
			sarama.NewConsumerGroupMetadataFromSession(sess, gc.Group, nil))
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
	t.cfg.Metrics.transaction(records, err, time.Since(started))
	return err
}

// abort aborts the open transaction after err and returns err, saying
// why. A producer that cannot abort (the broker fenced it) is left as it
// is: the error wraps errFenced, and the claim ends.
func (t *partitionTxns) abort(err error) error {
	if errors.Is(err, sarama.ErrIllegalGeneration) || errors.Is(err, sarama.ErrUnknownMemberId) ||
		errors.Is(err, sarama.ErrFencedInstancedId) {
		err = fmt.Errorf("the consumer group has moved on (%w)", err)
	}
	if t.producer.TxnStatus()&sarama.ProducerTxnFlagFatalError == 0 {
		aerr := t.producer.AbortTxn()
		if aerr == nil {
			return fmt.Errorf("kafka: transaction aborted: %w", err)
		}
		err = errors.Join(err, fmt.Errorf("abort: %w", aerr))
	}
	return fmt.Errorf("%w: %w", errFenced, err)
}

// close aborts a transaction left open and disconnects.
func (t *partitionTxns) close() error {
	if t.producer.TxnStatus()&sarama.ProducerTxnFlagInTransaction != 0 {
		_ = t.producer.AbortTxn()
	}
	if err := t.producer.Close(); err != nil {
		return fmt.Errorf("kafka: close transactional producer %s: %w", t.id, err)
	}
	return nil
}
