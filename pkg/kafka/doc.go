// Package kafka is the project's thin layer over github.com/IBM/sarama.
//
// Services never touch sarama directly. They get:
//
//   - a Producer that publishes keyed records with headers, idempotently, with
//     acks from all in-sync replicas and the Java client's murmur2 partitioning,
//     so a key lands on the same partition whichever client wrote it;
//   - a Consumer that runs a consumer group for as long as its context lives,
//     across rebalances, and calls a Handler per record, or a BatchHandler per
//     batch of what a partition has ready (opened per partition by an
//     OpenFunc, where state is restored); an offset is committed only after
//     its handler returned nil (at-least-once), and after a BeforeCommit hook
//     (a service flushing its buffered log) succeeded, so a crash never
//     commits a message whose output was still in a buffer;
//   - transactions (GroupConfig.TransactionalID): a batch Consumer commits
//     each batch's output and input offsets in one Kafka transaction, with
//     a transactional producer per claimed partition, fenced by the
//     partition's next owner and by the group's generation (KIP-447):
//     exactly once for read-committed readers, even for a member that
//     stalls past its session timeout and comes back;
//   - Middleware (Recover, Retry, DeadLetter) composed around a Handler,
//     so a poison record is parked on a dead-letter topic and never blocks its
//     partition, while a transient failure is retried instead of skipped;
//   - RetryPolicy, the capped backoff with jitter behind Retry and every
//     other retry in the module;
//   - DeadLetters, the dead-letter record of a message, for batch handlers
//     that publish it with the rest of their output;
//   - traces, with a Config's TracerProvider: a span per record sent and
//     per batch handled, the W3C trace context carried from one to the next
//     in record headers (TraceHeaders, StartProcess);
//   - a Reader that reads a partition's committed records to its stable end
//     (to restore state from a changelog) or follows a topic (a read
//     model), outside any group;
//   - EnsureTopics, an idempotent topic creator;
//   - SaramaLogger, which routes sarama's own log lines to zap;
//   - Metrics, the Prometheus metrics of every Producer and Consumer made
//     with a Config that has them: records by outcome, handler and
//     produce latency, lag per partition, rebalances.
package kafka
