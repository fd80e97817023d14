package kafka

import (
	"context"
	"errors"
)

// Handler processes one message. Returning nil lets the consumer mark the
// message's offset; returning an error means it was not processed.
type Handler func(ctx context.Context, msg *Message) error

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
