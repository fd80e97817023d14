package kafka

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/logging"
)

// Recover turns a panic in the handler into a permanent error, so one bad
// message can neither crash the service nor be retried forever. The stack is
// logged here; the error keeps only the panic value, short enough for a
// dead-letter header.
func Recover(log *zap.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) (err error) {
			defer func() {
				if r := recover(); r != nil {
					log.Error("handler panicked",
						zap.String("topic", msg.Topic), zap.Int32("partition", msg.Partition),
						zap.Int64("offset", msg.Offset), zap.Any("panic", r),
						zap.ByteString("stack", debug.Stack()), logging.Trace(ctx))
					err = Permanent(fmt.Errorf("panic: %v", r))
				}
			}()
			return next(ctx, msg)
		}
	}
}

// Retry calls the handler again after a transient error, as p.Do does.
// Permanent errors return at once. When MaxAttempts is exhausted the last
// error is returned marked Permanent, so DeadLetter parks the message
// instead of blocking the partition; when the consumer stops, the message
// stays unmarked and whoever owns the partition next starts again from it.
func Retry(p RetryPolicy, log *zap.Logger) Middleware {
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			return p.Do(ctx, func() error { return next(ctx, msg) }, func(attempt int, wait time.Duration, err error) {
				claimMetricsOf(ctx).retry()
				log.Warn("handler failed, will retry",
					zap.String("topic", msg.Topic), zap.Int32("partition", msg.Partition),
					zap.Int64("offset", msg.Offset), zap.Int("attempt", attempt),
					zap.Duration("backoff", wait), zap.Error(err), logging.Trace(ctx))
			})
		}
	}
}

// Headers set on a dead-lettered record, beside the original headers, so an
// operator can find the source record and see why it failed.
const (
	HeaderDLTOriginTopic     = "dlt-origin-topic"
	HeaderDLTOriginPartition = "dlt-origin-partition"
	HeaderDLTOriginOffset    = "dlt-origin-offset"
	HeaderDLTError           = "dlt-error"
	HeaderDLTConsumerGroup   = "dlt-consumer-group"
	HeaderDLTFailedAt        = "dlt-failed-at"
	// HeaderDLTValueTruncated, on a record whose value was too large to
	// park whole, holds the original value's length in bytes; the record
	// keeps its first part.
	HeaderDLTValueTruncated = "dlt-value-truncated"
)

// DefaultDeadLetterTopic is where services park records they can never process.
const DefaultDeadLetterTopic = "dead-letter-topic"

// Publisher is the part of Producer that DeadLetter needs.
type Publisher interface {
	// Publish sends records and returns once all of them are acknowledged,
	// or with the error that stopped it.
	Publish(ctx context.Context, records ...Record) error
}

// DeadLetters makes the dead-letter records of one consumer group.
type DeadLetters struct {
	// Topic is the dead-letter topic.
	Topic string
	// Group is the consumer group, named in HeaderDLTConsumerGroup.
	Group string
}

// Record returns the dead-letter record for msg, whose handling failed
// permanently with err: msg's key, value and headers plus headers naming its
// origin and the error. With the context a Consumer gave its handler, msg
// then counts as dead-lettered rather than ok in the consumer's metrics,
// once the handler call returns nil.
func (d DeadLetters) Record(ctx context.Context, msg *Message, err error) Record {
	claimMetricsOf(ctx).deadLetter()
	headers := make(map[string]string, len(msg.Headers)+6)
	for k, v := range msg.Headers {
		headers[k] = v
	}
	headers[HeaderDLTOriginTopic] = msg.Topic
	headers[HeaderDLTOriginPartition] = strconv.FormatInt(int64(msg.Partition), 10)
	headers[HeaderDLTOriginOffset] = strconv.FormatInt(msg.Offset, 10)
	headers[HeaderDLTError] = err.Error()
	headers[HeaderDLTConsumerGroup] = d.Group
	headers[HeaderDLTFailedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	value := msg.Value
	// A record the broker took whole may not fit once the headers are
	// added: park its first part rather than block the partition on a
	// publish that can never succeed.
	if room := maxRecordBytes - recordOverhead - len(msg.Key) - headersSize(headers); len(value) > room {
		headers[HeaderDLTValueTruncated] = strconv.Itoa(len(value))
		value = value[:max(room-len(HeaderDLTValueTruncated)-20, 0)]
	}
	return Record{Topic: d.Topic, Key: msg.Key, Value: value, Headers: headers}
}

// DeadLetter publishes a message whose handler failed permanently to topic,
// as DeadLetters.Record makes it, and then reports success so the partition
// moves on. Transient errors pass through untouched. If the dead-letter
// publish itself fails the error is returned, so the message is not marked
// and will be seen again.
func DeadLetter(pub Publisher, topic, group string, log *zap.Logger) Middleware {
	dl := DeadLetters{Topic: topic, Group: group}
	return func(next Handler) Handler {
		return func(ctx context.Context, msg *Message) error {
			err := next(ctx, msg)
			if err == nil || !IsPermanent(err) {
				return err
			}
			if perr := pub.Publish(ctx, dl.Record(ctx, msg, err)); perr != nil {
				// Only perr is wrapped: err is permanent, and would make this
				// failure, a transient one, permanent too.
				return fmt.Errorf("dead-letter to %s: %w (handler error: %v)", topic, perr, err) //nolint:errorlint // err must not be wrapped
			}
			log.Warn("message dead-lettered",
				zap.String("topic", msg.Topic), zap.Int32("partition", msg.Partition),
				zap.Int64("offset", msg.Offset), zap.String("dead_letter_topic", topic),
				zap.Error(err), logging.Trace(ctx))
			return nil
		}
	}
}
