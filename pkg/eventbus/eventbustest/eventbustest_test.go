package eventbustest_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
)

func TestPublisherRecordsEveryCallAndFailsAsTold(t *testing.T) {
	t.Parallel()
	errSecond := errors.New("second call fails")
	pub := &eventbustest.Publisher[string]{Fail: func(call int) error {
		if call == 2 {
			return errSecond
		}
		return nil
	}}
	for i, want := range []error{nil, errSecond, nil} {
		if err := pub.Publish(t.Context(), "call", string(rune('a'+i))); !errors.Is(err, want) {
			t.Errorf("call %d = %v, want %v", i+1, err, want)
		}
	}
	if got, want := pub.Calls(), [][]string{{"call", "a"}, {"call", "b"}, {"call", "c"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("Calls() = %q, want %q", got, want)
	}
	if got, want := pub.Published(), []string{"call", "a", "call", "b", "call", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Published() = %q, want %q", got, want)
	}
}

func TestPublisherNotifiesEachCallByItsNumber(t *testing.T) {
	t.Parallel()
	pub := &eventbustest.Publisher[int]{Notify: make(chan int)}
	done := make(chan error, 2)
	go func() {
		done <- pub.Publish(t.Context(), 1)
		done <- pub.Publish(t.Context(), 2)
	}()
	for want := 1; want <= 2; want++ {
		select {
		case n := <-pub.Notify:
			if n != want {
				t.Errorf("notified call %d, want %d", n, want)
			}
		case err := <-done:
			t.Fatalf("a call returned (%v) before the test received its number", err)
		case <-time.After(5 * time.Second):
			t.Fatal("no call was notified")
		}
		if err := <-done; err != nil {
			t.Errorf("call %d = %v", want, err)
		}
	}
}

func TestBlockingWaitsForTheContext(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if err := (eventbustest.Blocking[string]{}).Publish(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Publish = %v, want context.DeadlineExceeded", err)
	}
}

func TestSequentialIDsCountFromOne(t *testing.T) {
	t.Parallel()
	next, other := eventbustest.SequentialIDs(), eventbustest.SequentialIDs()
	for _, want := range []string{"1", "2", "3"} {
		if got := next(); got != want {
			t.Errorf("id %q, want %q", got, want)
		}
	}
	if got := other(); got != "1" {
		t.Errorf("a second generator starts at %q, want 1", got)
	}
}
