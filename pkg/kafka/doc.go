// Package kafka is the project's thin layer over github.com/IBM/sarama.
//
// Services never touch sarama directly. They get:
//
//   - a Producer that publishes keyed records with headers, idempotently, with
//     acks from all in-sync replicas and the Java client's murmur2 partitioning,
//     so a key lands on the same partition whichever client wrote it;
//   - a Consumer that runs a consumer group for as long as its context lives,
//     across rebalances, and calls a Handler per record; an offset is marked only
//     after its handler returned nil (at-least-once);
//   - Middleware (Recover, Retry, DeadLetter) composed around a Handler,
//     so a poison record is parked on a dead-letter topic and never blocks its
//     partition, while a transient failure is retried instead of skipped;
//   - EnsureTopics, an idempotent topic creator;
//   - SaramaLogger, which routes sarama's own log lines to zap.
package kafka
