package notify_test

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/services/notification-service/internal/notify"
)

// recordingNotifier records every notification it is asked to send and
// answers with err.
type recordingNotifier struct {
	err error

	mu   sync.Mutex
	sent []notify.Notification
}

func (r *recordingNotifier) Notify(_ context.Context, n notify.Notification) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, n)
	return r.err
}

func (r *recordingNotifier) notifications() []notify.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]notify.Notification(nil), r.sent...)
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
				return s.RefillNeeded(ctx, contracts.InventoryEmpty{ProductID: "PRODUCT-123"})
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
			if err := tt.call(t.Context(), notify.NewService(n)); err != nil {
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
			return s.RefillNeeded(ctx, contracts.InventoryEmpty{ProductID: "PRODUCT-123"})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &recordingNotifier{err: errDown}
			err := tt.call(t.Context(), notify.NewService(n))
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
			return s.RefillNeeded(ctx, contracts.InventoryEmpty{})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n := &recordingNotifier{}
			err := tt.call(t.Context(), notify.NewService(n))
			if !errors.Is(err, contracts.ErrInvalid) {
				t.Errorf("got error %v, want one matching contracts.ErrInvalid", err)
			}
			if got := n.notifications(); len(got) != 0 {
				t.Errorf("sent %+v for an invalid event, want nothing", got)
			}
		})
	}
}
