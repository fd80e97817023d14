package actionlog_test

import (
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/dedupe"
	"github.com/eventshop/eventshop/services/logging-service/internal/actionlog"
)

// newRecorder returns a Recorder that remembers event ids for an hour and
// logs to the returned logs.
func newRecorder() (*actionlog.Recorder, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return actionlog.NewRecorder(zap.New(core), dedupe.Bounds{Window: time.Hour, Limit: 1000}), logs
}

func TestRecordLogsEachActionWithItsFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		correlation string
		eventID     string
		action      contracts.LoggingAction
		wantMessage string
		wantFields  map[string]any
	}{
		{
			name:        "order service with correlation and event ids",
			correlation: "corr-1",
			eventID:     "event-1",
			action:      contracts.LoggingAction{ServiceName: "order-service", Action: "new-order"},
			wantMessage: "Logging Service: serviceName: order-service, action: new-order",
			wantFields: map[string]any{
				"service_name": "order-service", "action": "new-order", "correlation_id": "corr-1", "event_id": "event-1",
			},
		},
		{
			name:        "unknown service without correlation id",
			action:      contracts.LoggingAction{ServiceName: "legacy-node-service", Action: "something-else"},
			wantMessage: "Logging Service: serviceName: legacy-node-service, action: something-else",
			wantFields:  map[string]any{"service_name": "legacy-node-service", "action": "something-else"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, logs := newRecorder()
			ctx := t.Context()
			if tt.correlation != "" {
				ctx = correlation.With(ctx, tt.correlation)
			}

			if err := r.Record(correlation.WithEventID(ctx, tt.eventID), tt.action); err != nil {
				t.Fatalf("Record: %v", err)
			}

			entries := logs.AllUntimed()
			if len(entries) != 1 {
				t.Fatalf("logged %d entries, want 1: %+v", len(entries), entries)
			}
			if entries[0].Message != tt.wantMessage {
				t.Errorf("message %q, want %q", entries[0].Message, tt.wantMessage)
			}
			if entries[0].Level != zapcore.InfoLevel {
				t.Errorf("level %s, want info", entries[0].Level)
			}
			if got := entries[0].ContextMap(); !reflect.DeepEqual(got, tt.wantFields) {
				t.Errorf("fields %v\nwant %v", got, tt.wantFields)
			}
			want := []actionlog.Count{{ServiceName: tt.action.ServiceName, Action: tt.action.Action, Count: 1}}
			if got := r.Counts(); !reflect.DeepEqual(got, want) {
				t.Errorf("counts %+v, want %+v", got, want)
			}
		})
	}
}

// TestRecordCountsEachActionFromConcurrentCalls records, from a goroutine
// each, the ten actions the tutorial's three orders bring, built here by hand
// (the end-to-end test has them from a real run), and checks the count of
// each service's action.
func TestRecordCountsEachActionFromConcurrentCalls(t *testing.T) {
	t.Parallel()
	r, _ := newRecorder()
	// What the order and inventory services report for three sample orders:
	// the third takes PRODUCT-123 to the threshold.
	// Each with an event id of its own, as the services publish them.
	var actions []contracts.LoggingAction
	for range 3 {
		actions = append(actions,
			contracts.LoggingAction{ServiceName: contracts.ServiceOrder, Action: contracts.ActionNewOrder},
			contracts.LoggingAction{ServiceName: contracts.ServiceInventory, Action: contracts.ActionInventoryUpdated},
			contracts.LoggingAction{ServiceName: contracts.ServiceInventory, Action: contracts.ActionInventoryUpdated},
		)
	}
	actions = append(actions, contracts.LoggingAction{ServiceName: contracts.ServiceInventory, Action: contracts.ActionInventoryEmpty})

	// Partitions are consumed concurrently, so Record must count correctly
	// from many goroutines at once.
	var wg sync.WaitGroup
	for i, a := range actions {
		wg.Go(func() {
			if err := r.Record(correlation.WithEventID(t.Context(), fmt.Sprint("event-", i)), a); err != nil {
				t.Errorf("Record(%+v): %v", a, err)
			}
		})
	}
	wg.Wait()

	want := []actionlog.Count{
		{ServiceName: "inventory-service", Action: "inventory-empty", Count: 1},
		{ServiceName: "inventory-service", Action: "inventory-updated", Count: 6},
		{ServiceName: "order-service", Action: "new-order", Count: 3},
	}
	if got := r.Counts(); !reflect.DeepEqual(got, want) {
		t.Errorf("counts %+v\nwant %+v", got, want)
	}
}

func TestRecordRejectsInvalidActions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		action contracts.LoggingAction
	}{
		{"no service name", contracts.LoggingAction{Action: "new-order"}},
		{"blank action", contracts.LoggingAction{ServiceName: "order-service", Action: " "}},
		{"empty", contracts.LoggingAction{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, logs := newRecorder()
			err := r.Record(correlation.WithEventID(t.Context(), "event-1"), tt.action)
			if !errors.Is(err, contracts.ErrInvalid) {
				t.Errorf("got error %v, want one matching contracts.ErrInvalid", err)
			}
			if n := logs.Len(); n != 0 {
				t.Errorf("logged %d entries for an invalid action, want none", n)
			}
			if got := r.Counts(); len(got) != 0 {
				t.Errorf("counted %+v for an invalid action, want nothing", got)
			}
		})
	}
}

func TestRecordCountsAnActionOncePerEventID(t *testing.T) {
	t.Parallel()
	newOrder := contracts.LoggingAction{ServiceName: contracts.ServiceOrder, Action: contracts.ActionNewOrder}
	type delivery struct {
		wait    time.Duration // before it, in a synctest bubble
		eventID string
	}
	tests := []struct {
		name       string
		deliveries []delivery
		wantCount  int
		// wantDropped are the event ids of the repeats logged at debug.
		wantDropped []string
	}{
		{
			name:        "the same event delivered again is counted once",
			deliveries:  []delivery{{eventID: "e1"}, {wait: 59 * time.Minute, eventID: "e1"}},
			wantCount:   1,
			wantDropped: []string{"e1"},
		},
		{
			name:       "events with their own ids are each counted",
			deliveries: []delivery{{eventID: "e1"}, {eventID: "e2"}},
			wantCount:  2,
		},
		{
			name:       "an event delivered again after the window is counted again",
			deliveries: []delivery{{eventID: "e1"}, {wait: time.Hour, eventID: "e1"}},
			wantCount:  2,
		},
		{
			name:       "actions without an event id are each counted, as the tutorial's services send them",
			deliveries: []delivery{{}, {}, {}},
			wantCount:  3,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				r, logs := newRecorder()
				ctx := correlation.With(t.Context(), "corr-1")
				for _, d := range tt.deliveries {
					time.Sleep(d.wait)
					if err := r.Record(correlation.WithEventID(ctx, d.eventID), newOrder); err != nil {
						t.Fatalf("Record: %v", err)
					}
				}

				want := []actionlog.Count{{ServiceName: newOrder.ServiceName, Action: newOrder.Action, Count: tt.wantCount}}
				if got := r.Counts(); !reflect.DeepEqual(got, want) {
					t.Errorf("counts %+v, want %+v", got, want)
				}
				if n := logs.FilterLevelExact(zapcore.InfoLevel).Len(); n != tt.wantCount {
					t.Errorf("logged %d actions, want %d", n, tt.wantCount)
				}
				var dropped []string
				for _, e := range logs.FilterLevelExact(zapcore.DebugLevel).AllUntimed() {
					if e.Message != "action recorded before, repeat dropped" {
						t.Errorf("debug message %q, want the repeat's", e.Message)
					}
					wantFields := map[string]any{
						"service_name": newOrder.ServiceName, "action": newOrder.Action,
						"correlation_id": "corr-1", "event_id": e.ContextMap()["event_id"],
					}
					if got := e.ContextMap(); !reflect.DeepEqual(got, wantFields) {
						t.Errorf("repeat logged with fields %v, want %v", got, wantFields)
					}
					dropped = append(dropped, fmt.Sprint(e.ContextMap()["event_id"]))
				}
				if !reflect.DeepEqual(dropped, tt.wantDropped) {
					t.Errorf("repeats logged %q, want %q", dropped, tt.wantDropped)
				}
			})
		})
	}
}
