package kafka

import (
	"context"
	"fmt"
	"math/rand/v2"
	"time"
)

// RetryPolicy is how often a failing call is tried and how long to wait
// between tries. Every retry of the module goes through Retry or Do, each
// caller with a policy of its own, so all share one capped, jittered
// backoff.
type RetryPolicy struct {
	// MaxAttempts is the total number of tries, the first included. Zero or
	// less retries until the context ends: a transient fault such as a broker
	// being away must delay a message, not lose it.
	MaxAttempts int
	// InitialBackoff is the wait before the second try; it doubles per try.
	InitialBackoff time.Duration
	// MaxBackoff caps the wait between tries.
	MaxBackoff time.Duration
}

// DefaultRetryPolicy retries until the consumer stops, waiting 100ms at first
// and at most 5s between tries.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}
}

// backoff returns the wait after the given failed attempt (1-based), with
// jitter so that callers failing together (partitions, group members,
// services started with the cluster) do not retry in lockstep.
func (p RetryPolicy) backoff(attempt int) time.Duration {
	d := p.InitialBackoff
	for i := 1; i < attempt && d < p.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, p.MaxBackoff)
	if d <= 0 {
		return 0
	}
	// Between 75% and 100% of d.
	return d - time.Duration(rand.Int64N(int64(d)/4+1)) //nolint:gosec // jitter spreads retries; nothing secret comes of it
}

// Retry calls fn until it returns nil, waiting after each failure as p says;
// before each wait it calls onRetry, if not nil, with the failed attempt's
// number, the wait and the error. It gives up and returns fn's last error
// once MaxAttempts calls have failed, or when ctx ends or the consumer is
// stopping (see Stopping), without announcing a retry it will not make.
func (p RetryPolicy) Retry(ctx context.Context, fn func() error, onRetry func(attempt int, wait time.Duration, err error)) error {
	_, err := p.retry(ctx, fn, nil, onRetry)
	return err
}

// Do is Retry for a message's handling. A permanent error (see Permanent)
// is returned at once, without a retry. When MaxAttempts is exhausted the
// last error is returned marked Permanent. Do gives up early, returning a
// transient error that wraps the last one (and ctx's error, if ctx ended),
// when ctx ends or the consumer is stopping: work not done then is left for
// whoever handles the message next.
func (p RetryPolicy) Do(ctx context.Context, fn func() error, onRetry func(attempt int, wait time.Duration, err error)) error {
	attempts, err := p.retry(ctx, fn, IsPermanent, onRetry)
	switch {
	case err == nil, IsPermanent(err):
		return err
	case attempts == p.MaxAttempts:
		return Permanent(fmt.Errorf("gave up after %d attempts: %w", attempts, err))
	case ctx.Err() != nil:
		return fmt.Errorf("retry abandoned: %w (last error: %w)", ctx.Err(), err)
	default:
		return fmt.Errorf("retry abandoned, consumer stopping: %w", err)
	}
}

// retry is the loop behind Retry and Do: it also gives up at once on an
// error for which final, if not nil, reports true. It returns the number of
// calls made and fn's last error.
func (p RetryPolicy) retry(ctx context.Context, fn func() error, final func(error) bool,
	onRetry func(attempt int, wait time.Duration, err error)) (int, error) {
	stopping := Stopping(ctx)
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || (final != nil && final(err)) || attempt == p.MaxAttempts || ended(ctx, stopping) {
			return attempt, err
		}
		wait := p.backoff(attempt)
		if onRetry != nil {
			onRetry(attempt, wait, err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return attempt, err
		case <-stopping:
			t.Stop()
			return attempt, err
		case <-t.C:
		}
	}
}

// ended reports whether ctx is done or stopping is closed.
func ended(ctx context.Context, stopping <-chan struct{}) bool {
	select {
	case <-stopping:
		return true
	default:
		return ctx.Err() != nil
	}
}
