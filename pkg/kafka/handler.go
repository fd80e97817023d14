package kafka

import (
	"context"
	"errors"
)

// Handler processes one message. Returning nil lets the consumer mark the
// message's offset; returning an error means it was not processed.
type Handler func(ctx context.Context, msg *Message) error

// BatchHandler processes messages of one partition, in offset order, as one
// unit: returning nil lets the consumer mark all of them, returning an error
// means none was processed and all will be delivered again. A handler that
// must not redeliver a poison message's neighbours deals with it itself, for
// example by dead-lettering it with DeadLetters and returning nil.
type BatchHandler func(ctx context.Context, msgs []*Message) error

// Claim is one partition assigned to this member of the group.
type Claim struct {
	Topic     string
	Partition int32
	// Out, for a consumer with transactions (GroupConfig.TransactionalID),
	// publishes into the transaction of the batch being handled: what it
	// sends is committed with the batch's offsets, or aborted with them.
	// It does not wait for the records: the commit does. It is nil for a
	// consumer without transactions.
	Out Publisher
}

// OpenFunc is called when the member starts on a partition, before the
// partition's first batch, and returns the handler for its batches. It is
// where state kept per partition is restored. It is called again before a
// failed batch is retried, so that the retry starts from that state and not
// from what the failed attempt left. An error is retried as a handler error
// is. Calls for different partitions run concurrently.
type OpenFunc func(ctx context.Context, claim Claim) (BatchHandler, error)

// perMessage adapts h to an OpenFunc for batches of one message.
func perMessage(h Handler) OpenFunc {
	handle := func(ctx context.Context, msgs []*Message) error {
		for _, m := range msgs {
			if err := h(ctx, m); err != nil {
				return err
			}
		}
		return nil
	}
	return func(context.Context, Claim) (BatchHandler, error) { return handle, nil }
}

// Middleware wraps a Handler with behaviour that every consumer shares.
type Middleware func(Handler) Handler

// Chain applies middleware so that the first one listed is the outermost:
// Chain(h, A, B) handles a message as A(B(h)).
func Chain(h Handler, mws ...Middleware) Handler {
	for i := len(mws) - 1; i >= 0; i-- {
		h = mws[i](h)
	}
	return h
}

// permanentError marks an error that no retry can cure.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as one that retrying cannot fix (a record that does not
// decode, an event that breaks its contract). Retry passes such errors
// through at once and DeadLetter parks the message. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil || IsPermanent(err) {
		return err
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or any error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var pe *permanentError
	return errors.As(err, &pe)
}
