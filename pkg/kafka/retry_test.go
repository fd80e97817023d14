package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/kafka"
)

// attempts is what Retry did with a call that always fails.
type attempts struct {
	calls int
	waits []time.Duration // as announced to onRetry
	err   error           // Retry's
	wrong []string        // announcements that did not name the failed call
}

// retries runs p.Retry over a call that always fails. onRetry, if not nil,
// is also called on each announced retry.
func retries(ctx context.Context, p kafka.RetryPolicy, onRetry func(attempt int)) attempts {
	var a attempts
	a.err = p.Retry(ctx, func() error { a.calls++; return errTransient }, func(attempt int, wait time.Duration, err error) {
		if attempt != a.calls || !errors.Is(err, errTransient) {
			a.wrong = append(a.wrong, fmt.Sprintf("attempt %d with %v after call %d", attempt, err, a.calls))
		}
		a.waits = append(a.waits, wait)
		if onRetry != nil {
			onRetry(attempt)
		}
	})
	return a
}

func TestRetryWaitsDoubleUpToTheCapWithJitter(t *testing.T) {
	t.Parallel()
	p := kafka.RetryPolicy{MaxAttempts: 40, InitialBackoff: time.Millisecond, MaxBackoff: 6 * time.Millisecond}
	a := retries(context.Background(), p, nil)
	if a.calls != 40 || len(a.waits) != 39 || a.wrong != nil {
		t.Fatalf("%d calls and %d waits (wrong: %v), want 40 calls and a wait between each two", a.calls, len(a.waits), a.wrong)
	}
	if !errors.Is(a.err, errTransient) || kafka.IsPermanent(a.err) {
		t.Errorf("err = %v, want the call's last error, as it was", a.err)
	}
	distinct := map[time.Duration]bool{}
	for i, wait := range a.waits {
		// 1, 2, 4, then 6ms (8 capped): each wait between 75% and 100%
		// of that.
		full := min(time.Millisecond<<i, p.MaxBackoff)
		if wait < full*3/4 || wait > full {
			t.Errorf("wait %d = %s, want between %s and %s", i+1, wait, full*3/4, full)
		}
		if full == p.MaxBackoff {
			distinct[wait] = true
		}
	}
	// 36 waits at the cap, each drawn from 1,500,001 values: the same
	// value every time means there is no jitter.
	if len(distinct) < 2 {
		t.Errorf("the waits at the cap were all %v: no jitter", a.waits[len(a.waits)-1])
	}
}

func TestRetryStops(t *testing.T) {
	t.Parallel()
	hour := kafka.RetryPolicy{InitialBackoff: time.Hour, MaxBackoff: time.Hour}
	tests := []struct {
		name string
		// run returns the context and what to do on each announced retry.
		run       func() (context.Context, func(attempt int))
		policy    kafka.RetryPolicy
		wantCalls int
		wantWaits int
		wantCtx   error
	}{
		{
			name:      "after MaxAttempts calls",
			run:       func() (context.Context, func(int)) { return context.Background(), nil },
			policy:    kafka.RetryPolicy{MaxAttempts: 3, InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond},
			wantCalls: 3, wantWaits: 2,
		},
		{
			name: "when the context ends during a wait",
			run: func() (context.Context, func(int)) {
				ctx, cancel := context.WithCancel(context.Background())
				return ctx, func(int) { cancel() }
			},
			policy:    hour,
			wantCalls: 1, wantWaits: 1, wantCtx: context.Canceled,
		},
		{
			name: "without announcing a retry when the context has ended",
			run: func() (context.Context, func(int)) {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				return ctx, nil
			},
			policy:    hour,
			wantCalls: 1, wantWaits: 0, wantCtx: context.Canceled,
		},
		{
			name: "when the consumer is stopping",
			run: func() (context.Context, func(int)) {
				stop := make(chan struct{})
				return kafka.WithStopping(context.Background(), stop), func(int) { close(stop) }
			},
			policy:    hour,
			wantCalls: 1, wantWaits: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx, onRetry := tc.run()
			done := make(chan attempts, 1)
			go func() { done <- retries(ctx, tc.policy, onRetry) }()
			var a attempts
			select {
			case a = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Retry still waiting after 10s")
			}
			if a.calls != tc.wantCalls || len(a.waits) != tc.wantWaits || a.wrong != nil {
				t.Errorf("%d calls and %d waits (wrong: %v), want %d and %d", a.calls, len(a.waits), a.wrong, tc.wantCalls, tc.wantWaits)
			}
			if !errors.Is(a.err, errTransient) {
				t.Errorf("err = %v, want the call's last error", a.err)
			}
			if !errors.Is(ctx.Err(), tc.wantCtx) {
				t.Errorf("ctx.Err() = %v, want %v", ctx.Err(), tc.wantCtx)
			}
		})
	}
}

func TestRetryReturnsNilOnceTheCallSucceeds(t *testing.T) {
	t.Parallel()
	calls := 0
	err := kafka.RetryPolicy{InitialBackoff: time.Millisecond, MaxBackoff: time.Millisecond}.Retry(context.Background(),
		func() error {
			calls++
			if calls < 3 {
				// Retry, unlike Do, retries what Do would give up on.
				return kafka.Permanent(errTransient)
			}
			return nil
		}, nil)
	if err != nil || calls != 3 {
		t.Errorf("Retry = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestDoGivesWayWhenTheConsumerIsStopping(t *testing.T) {
	t.Parallel()
	stop := make(chan struct{})
	ctx := kafka.WithStopping(context.Background(), stop)
	err := kafka.RetryPolicy{InitialBackoff: time.Hour, MaxBackoff: time.Hour}.Do(ctx,
		func() error { return errTransient },
		func(int, time.Duration, error) { close(stop) })
	if !errors.Is(err, errTransient) || kafka.IsPermanent(err) || err.Error() != "retry abandoned, consumer stopping: broker away" {
		t.Errorf("err = %v, want a transient error saying the consumer is stopping and wrapping the last error", err)
	}
}
