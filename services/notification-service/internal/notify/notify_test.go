package notify_test

import (
	"context"
	"errors"
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
	"github.com/eventshop/eventshop/services/notification-service/internal/notify"
)

// recordingNotifier records every notification it is asked to send and
// answers with err: every time, or only the first failFirst times if that
// is set.
type recordingNotifier struct {
	err       error
	failFirst int

	mu   sync.Mutex
	sent []notify.Notification
}

func (r *recordingNotifier) Notify(_ context.Context, n notify.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, n)
	if r.failFirst > 0 && len(r.sent) > r.failFirst {
		return nil
	}
	return r.err
}

func (r *recordingNotifier) notifications() []notify.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Notification(nil), r.sent...)
}

// newService returns a Service that sends through n, remembers ids for an
// hour, and logs to the returned logs.
func newService(n notify.Notifier) (*notify.Service, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return notify.NewService(n, dedupe.Bounds{Window: time.Hour, Limit: 1000}, zap.New(core)), logs
}

func TestServiceSendsTheTutorialsTexts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(context.Context, *notify.Service) error
		want notify.Notification
	}{
		{
			name: "approved order congratulates its customer",
			call: func(ctx context.Context, s *notify.Service) error {
				return s.OrderApproved(ctx, contracts.SampleOrder())
			},
			want: notify.Notification{
				Kind:       notify.KindOrderApproved,
				Recipient:  "CUSTOMER-123",
				Text:       "Congrats CUSTOMER-123, your order ORDER-123 has been approved!",
				OrderID:    "ORDER-123",
				CustomerID: "CUSTOMER-123",
			},
		},
		{
			name: "empty inventory asks the staff for a refill",
			call: func(ctx context.Context, s *notify.Service) error {
				return s.RefillNeeded(correlation.WithEventID(ctx, "event-1"), contracts.InventoryEmpty{ProductID: "PRODUCT-123"})
			},
			want: notify.Notification{
				Kind:      notify.KindRefillNeeded,
				Recipient: notify.Staff,
				Text:      "Product PRODUCT-123 has to be REFILLED!",
				ProductID: "PRODUCT-123",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &recordingNotifier{}
			s, _ := newService(n)
			if err := tt.call(t.Context(), s); err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			got := n.notifications()
			if want := []notify.Notification{tt.want}; !reflect.DeepEqual(got, want) {
				t.Errorf("sent %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestServiceReportsAFailedNotificationForRetry(t *testing.T) {
	t.Parallel()
	errDown := errors.New("mail server down")
	tests := []struct {
		name string
		call func(context.Context, *notify.Service) error
	}{
		{"approved order", func(ctx context.Context, s *notify.Service) error {
			return s.OrderApproved(ctx, contracts.SampleOrder())
		}},
		{"empty inventory", func(ctx context.Context, s *notify.Service) error {
			return s.RefillNeeded(correlation.WithEventID(ctx, "event-1"), contracts.InventoryEmpty{ProductID: "PRODUCT-123"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &recordingNotifier{err: errDown}
			s, _ := newService(n)
			err := tt.call(t.Context(), s)
			if !errors.Is(err, errDown) {
				t.Fatalf("got error %v, want one wrapping %v", err, errDown)
			}
			// Only invalid events are permanent; a delivery failure must stay
			// retryable.
			if errors.Is(err, contracts.ErrInvalid) {
				t.Errorf("error %v matches contracts.ErrInvalid, so it would not be retried", err)
			}
			if got := len(n.notifications()); got != 1 {
				t.Errorf("tried %d notifications, want 1", got)
			}
		})
	}
}

func TestServiceRejectsInvalidEventsWithoutNotifying(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		call func(context.Context, *notify.Service) error
	}{
		{"order without customer", func(ctx context.Context, s *notify.Service) error {
			o := contracts.SampleOrder()
			o.CustomerID = ""
			return s.OrderApproved(ctx, o)
		}},
		{"order without id", func(ctx context.Context, s *notify.Service) error {
			o := contracts.SampleOrder()
			o.OrderID = "  "
			return s.OrderApproved(ctx, o)
		}},
		{"inventory-empty without product", func(ctx context.Context, s *notify.Service) error {
			return s.RefillNeeded(correlation.WithEventID(ctx, "event-1"), contracts.InventoryEmpty{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &recordingNotifier{}
			s, _ := newService(n)
			err := tt.call(t.Context(), s)
			if !errors.Is(err, contracts.ErrInvalid) {
				t.Errorf("got error %v, want one matching contracts.ErrInvalid", err)
			}
			if got := n.notifications(); len(got) != 0 {
				t.Errorf("sent %+v for an invalid event, want nothing", got)
			}
		})
	}
}

// event is one event a Service is given, after waiting for wait (in a
// synctest bubble, where time moves on only then).
type event struct {
	wait    time.Duration
	order   string // an order approved with this id, or
	refill  string // a refill needed for this product,
	eventID string // with this event id
}

func (e event) handle(ctx context.Context, s *notify.Service) error {
	ctx = correlation.WithEventID(ctx, e.eventID)
	if e.order != "" {
		o := contracts.SampleOrder()
		o.OrderID = e.order
		return s.OrderApproved(ctx, o)
	}
	return s.RefillNeeded(ctx, contracts.InventoryEmpty{ProductID: e.refill})
}

// logLine is a log entry's message and fields.
type logLine struct {
	message string
	fields  map[string]any
}

// The messages of the repeats dropped: the ids are fields, never part of
// the message.
const (
	orderRepeat  = "order congratulated before, repeat dropped"
	refillRepeat = "refill notice sent before, repeat dropped"
)

func TestServiceNotifiesOncePerOrderAndRefillEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		events    []event
		wantTexts []string
		// wantDropped are the debug lines of the repeats dropped.
		wantDropped []logLine
	}{
		{
			name: "an order approved again is congratulated once",
			// A client's retry after a 503 and a redelivery look the same
			// here: the order id is what counts, not the event id.
			events: []event{
				{order: "ORDER-1", eventID: "e1"},
				{order: "ORDER-1", eventID: "e2"},
				{wait: 59 * time.Minute, order: "ORDER-1", eventID: "e1"},
			},
			wantTexts: []string{"Congrats CUSTOMER-123, your order ORDER-1 has been approved!"},
			wantDropped: []logLine{
				{orderRepeat, map[string]any{"order_id": "ORDER-1", "correlation_id": "corr-1"}},
				{orderRepeat, map[string]any{"order_id": "ORDER-1", "correlation_id": "corr-1"}},
			},
		},
		{
			name: "different orders are each congratulated",
			events: []event{
				{order: "ORDER-1", eventID: "e1"},
				{order: "ORDER-2", eventID: "e1"},
			},
			wantTexts: []string{
				"Congrats CUSTOMER-123, your order ORDER-1 has been approved!",
				"Congrats CUSTOMER-123, your order ORDER-2 has been approved!",
			},
		},
		{
			name: "an order approved again after the window is congratulated again",
			events: []event{
				{order: "ORDER-1"},
				{wait: time.Hour, order: "ORDER-1"},
			},
			wantTexts: []string{
				"Congrats CUSTOMER-123, your order ORDER-1 has been approved!",
				"Congrats CUSTOMER-123, your order ORDER-1 has been approved!",
			},
		},
		{
			name: "an inventory-empty event delivered again is notified once",
			events: []event{
				{refill: "PRODUCT-1", eventID: "e1"},
				{wait: time.Minute, refill: "PRODUCT-1", eventID: "e1"},
			},
			wantTexts: []string{"Product PRODUCT-1 has to be REFILLED!"},
			wantDropped: []logLine{
				{refillRepeat, map[string]any{"event_id": "e1", "product_id": "PRODUCT-1", "correlation_id": "corr-1"}},
			},
		},
		{
			name: "the same product running low again is notified again",
			events: []event{
				{refill: "PRODUCT-1", eventID: "e1"},
				{refill: "PRODUCT-1", eventID: "e2"},
			},
			wantTexts: []string{"Product PRODUCT-1 has to be REFILLED!", "Product PRODUCT-1 has to be REFILLED!"},
		},
		{
			name: "an inventory-empty event without an id is always notified",
			events: []event{
				{refill: "PRODUCT-1"},
				{refill: "PRODUCT-1"},
			},
			wantTexts: []string{"Product PRODUCT-1 has to be REFILLED!", "Product PRODUCT-1 has to be REFILLED!"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				n := &recordingNotifier{}
				s, logs := newService(n)
				ctx := correlation.With(t.Context(), "corr-1")
				for i, e := range tt.events {
					time.Sleep(e.wait)
					if err := e.handle(ctx, s); err != nil {
						t.Fatalf("event %d: %v", i, err)
					}
				}

				var texts []string
				for _, n := range n.notifications() {
					texts = append(texts, n.Text)
				}
				if !reflect.DeepEqual(texts, tt.wantTexts) {
					t.Errorf("sent %q\nwant %q", texts, tt.wantTexts)
				}
				wantSent := map[notify.Kind]int{}
				for _, n := range n.notifications() {
					wantSent[n.Kind]++
				}
				for _, kind := range []notify.Kind{notify.KindOrderApproved, notify.KindRefillNeeded} {
					if got := s.Sent(kind); got != wantSent[kind] {
						t.Errorf("Sent(%s) = %d, want the %d sent", kind, got, wantSent[kind])
					}
				}
				var dropped []logLine
				for _, e := range logs.AllUntimed() {
					if e.Level != zapcore.DebugLevel {
						t.Errorf("logged %q at %s, want debug", e.Message, e.Level)
					}
					dropped = append(dropped, logLine{e.Message, e.ContextMap()})
				}
				if !reflect.DeepEqual(dropped, tt.wantDropped) {
					t.Errorf("logged repeats %v\nwant %v", dropped, tt.wantDropped)
				}
			})
		})
	}
}

func TestServiceNotifiesAgainWhatItFailedToDeliver(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event event
		kind  notify.Kind
	}{
		{"approved order", event{order: "ORDER-1", eventID: "e1"}, notify.KindOrderApproved},
		{"empty inventory", event{refill: "PRODUCT-1", eventID: "e1"}, notify.KindRefillNeeded},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &recordingNotifier{err: errors.New("mail server down"), failFirst: 1}
			s, _ := newService(n)
			if err := tt.event.handle(t.Context(), s); err == nil {
				t.Fatal("first delivery succeeded, want the notifier's error")
			}
			// The retry of a failed delivery is not a repeat; once it is
			// delivered, a repeat is.
			for range 2 {
				if err := tt.event.handle(t.Context(), s); err != nil {
					t.Fatalf("retry: %v", err)
				}
			}
			if got := len(n.notifications()); got != 2 {
				t.Errorf("tried %d notifications, want 2: the failed one and its retry", got)
			}
			if got := s.Sent(tt.kind); got != 1 {
				t.Errorf("Sent(%s) = %d, want 1: the failed delivery is not counted", tt.kind, got)
			}
		})
	}
}
