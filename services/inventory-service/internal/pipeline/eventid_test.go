package pipeline_test

import (
	"context"
	"slices"
	"testing"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// TestEventsAppliedAgainKeepTheirIDs: lines applied in a transaction that
// aborted are applied again by the next owner of the partition, from the
// state before them. Their events must then carry the same event ids as
// the first time, so that readers of uncommitted records (a tutorial's
// service) that drop repeats by event id drop them; and no two events may
// share an id.
func TestEventsAppliedAgainKeepTheirIDs(t *testing.T) {
	t.Parallel()
	f := newRestoreFixture(t, 3)
	// Product 0 holds 50 and refills at 10: the second line empties it.
	var msgs []*kafka.Message
	for _, k := range []int{0, 1} {
		id := productID(k)
		msgs = append(msgs,
			f.reservation(id, "ORDER-A", 4, 100, k, 20),
			f.reservation(id, "ORDER-B", 4, 101, k, 25))
	}
	run := func() []string {
		handle, err := f.pipe.Open(context.Background(), f.claim)
		if err != nil {
			t.Fatalf("open: %v", err)
		}
		before := len(f.pub.Published())
		if err := handle(context.Background(), msgs); err != nil {
			t.Fatalf("handle: %v", err)
		}
		var ids []string
		for _, rec := range f.pub.Published()[before:] {
			if rec.Topic == contracts.TopicNewLoggingAction || rec.Topic == contracts.TopicInventoryEmpty {
				ids = append(ids, rec.Headers[contracts.HeaderEventID])
			}
		}
		return ids
	}
	first := run()
	// The recorder wrote nothing to the changelog: the second owner
	// restores the state from before the first run, as after a crash.
	again := run()
	if len(first) < 5 {
		t.Fatalf("%d events, want at least 4 updates and a refill", len(first))
	}
	if !slices.Equal(first, again) {
		t.Errorf("event ids the first time %q,\nthe second %q", first, again)
	}
	if distinct := slices.Compact(slices.Sorted(slices.Values(first))); len(distinct) != len(first) {
		t.Errorf("%d events share %d ids: %q", len(first), len(distinct), first)
	}
}
