package dedupe_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/eventshop/eventshop/pkg/dedupe"
)

// step is one call on a Set, after waiting for wait (the fake clock of a
// synctest bubble moves on only then).
type step struct {
	wait time.Duration
	op   string // "add" or "remove"
	id   string
	want bool // what add reports
}

func TestSet(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		bounds  dedupe.Bounds
		steps   []step
		wantLen int
	}{
		{
			name:   "an id added again within the window is a repeat",
			bounds: dedupe.Bounds{Window: time.Hour, Limit: 10},
			steps: []step{
				{op: "add", id: "a", want: true},
				{wait: 59 * time.Minute, op: "add", id: "a", want: false},
				{op: "add", id: "b", want: true},
			},
			wantLen: 2,
		},
		{
			name:   "an id is forgotten once the window has passed since it was first added",
			bounds: dedupe.Bounds{Window: time.Hour, Limit: 10},
			steps: []step{
				{op: "add", id: "a", want: true},
				{wait: 30 * time.Minute, op: "add", id: "b", want: true},
				// A repeat does not make a remembered id last longer.
				{wait: 20 * time.Minute, op: "add", id: "a", want: false},
				{wait: 10 * time.Minute, op: "add", id: "a", want: true},
				{op: "add", id: "b", want: false},
				{wait: 30 * time.Minute, op: "add", id: "b", want: true},
			},
			wantLen: 2,
		},
		{
			name:   "at the limit the oldest id is forgotten early",
			bounds: dedupe.Bounds{Window: time.Hour, Limit: 2},
			steps: []step{
				{op: "add", id: "a", want: true},
				{wait: time.Second, op: "add", id: "b", want: true},
				{wait: time.Second, op: "add", id: "c", want: true},
				{op: "add", id: "b", want: false},
				{op: "add", id: "c", want: false},
				{op: "add", id: "a", want: true}, // and now b is gone
				{op: "add", id: "b", want: true},
			},
			wantLen: 2,
		},
		{
			name:   "a removed id can be added again",
			bounds: dedupe.Bounds{Window: time.Hour, Limit: 10},
			steps: []step{
				{op: "add", id: "a", want: true},
				{op: "remove", id: "a"},
				{op: "add", id: "a", want: true},
				{op: "add", id: "a", want: false},
			},
			wantLen: 1,
		},
		{
			name:   "an id added again after a remove lasts from its new add",
			bounds: dedupe.Bounds{Window: time.Hour, Limit: 10},
			steps: []step{
				{op: "add", id: "a", want: true},
				{wait: 30 * time.Minute, op: "remove", id: "a"},
				{op: "add", id: "a", want: true},
				// The first add's window is over; the second's is not.
				{wait: 45 * time.Minute, op: "add", id: "a", want: false},
			},
			wantLen: 1,
		},
		{
			name:   "removing an id that is not there changes nothing",
			bounds: dedupe.Bounds{Window: time.Hour, Limit: 10},
			steps: []step{
				{op: "add", id: "a", want: true},
				{op: "remove", id: "b"},
				{op: "add", id: "a", want: false},
			},
			wantLen: 1,
		},
		{
			name:   "everything is forgotten after a quiet window",
			bounds: dedupe.Bounds{Window: time.Minute, Limit: 10},
			steps: []step{
				{op: "add", id: "a", want: true},
				{op: "add", id: "b", want: true},
				{wait: time.Minute},
			},
			wantLen: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				s := dedupe.NewSet(tt.bounds)
				for i, st := range tt.steps {
					time.Sleep(st.wait)
					switch st.op {
					case "add":
						if got := s.Add(st.id); got != st.want {
							t.Errorf("step %d: Add(%q) = %v, want %v", i, st.id, got, st.want)
						}
					case "remove":
						s.Remove(st.id)
					}
				}
				if got := s.Len(); got != tt.wantLen {
					t.Errorf("Len() = %d, want %d", got, tt.wantLen)
				}
			})
		})
	}
}

func TestSetStaysWithinItsLimit(t *testing.T) {
	t.Parallel()
	const limit = 3000
	s := dedupe.NewSet(dedupe.Bounds{Window: time.Hour, Limit: limit})
	// Enough ids to forget the front of the set's storage several times.
	for i := range 10 * limit {
		if !s.Add(fmt.Sprint(i)) {
			t.Fatalf("Add(%d) = false for a new id", i)
		}
		if n := s.Len(); n > limit {
			t.Fatalf("after %d adds Len() = %d, over the limit %d", i+1, n, limit)
		}
	}
	// The newest limit ids are remembered, the one before them is not.
	for i := 9 * limit; i < 10*limit; i++ {
		if s.Add(fmt.Sprint(i)) {
			t.Fatalf("Add(%d) = true, want it remembered", i)
		}
	}
	if !s.Add(fmt.Sprint(9*limit - 1)) {
		t.Errorf("Add(%d) = false, want it forgotten at the limit", 9*limit-1)
	}
}

func TestSetKeepsItsOrderAsItGrows(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		s := dedupe.NewSet(dedupe.Bounds{Window: time.Hour, Limit: 1000})
		for i := range 50 {
			s.Add(fmt.Sprint("old-", i))
		}
		time.Sleep(time.Hour)
		// The old ids expire, so the new ones go on where they ended and
		// wrap around before the set has to grow. One a second, from T on.
		for i := range 300 {
			if i > 0 {
				time.Sleep(time.Second)
			}
			if id := fmt.Sprint("new-", i); !s.Add(id) {
				t.Fatalf("Add(%s) = false for a new id", id)
			}
		}
		if got := s.Len(); got != 300 {
			t.Errorf("Len() = %d, want 300", got)
		}
		// At T + 1h + 29s the ids added up to T + 29s are forgotten,
		// oldest first, and only they.
		time.Sleep(time.Hour + 29*time.Second - 299*time.Second)
		if got := s.Len(); got != 270 {
			t.Errorf("Len() = %d, want 270", got)
		}
		for i := 30; i < 300; i++ {
			if id := fmt.Sprint("new-", i); s.Add(id) {
				t.Fatalf("Add(%s) = true, want it remembered", id)
			}
		}
	})
}

func TestSetAddsEachIDOnceUnderConcurrency(t *testing.T) {
	t.Parallel()
	s := dedupe.NewSet(dedupe.Bounds{Window: time.Hour, Limit: 1000})
	var added atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for i := range 100 {
				if s.Add(fmt.Sprint(i)) {
					added.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := added.Load(); got != 100 {
		t.Errorf("%d adds reported a new id, want 100", got)
	}
}

func TestNewSetRefusesALimitBelowOne(t *testing.T) {
	t.Parallel()
	defer func() {
		if recover() == nil {
			t.Error("NewSet with limit 0 did not panic")
		}
	}()
	dedupe.NewSet(dedupe.Bounds{Window: time.Hour, Limit: 0})
}
