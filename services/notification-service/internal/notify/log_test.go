package notify_test

import (
	"reflect"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/services/notification-service/internal/notify"
)

func TestLogNotifierWritesTheTextWithItsSubject(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		n          notify.Notification
		wantFields map[string]any
	}{
		{
			name: "order approved",
			n: notify.Notification{
				Kind:       notify.KindOrderApproved,
				Recipient:  "CUSTOMER-123",
				Text:       "Congrats CUSTOMER-123, your order ORDER-123 has been approved!",
				OrderID:    "ORDER-123",
				CustomerID: "CUSTOMER-123",
			},
			wantFields: map[string]any{
				"kind":           "order-approved",
				"recipient":      "CUSTOMER-123",
				"order_id":       "ORDER-123",
				"customer_id":    "CUSTOMER-123",
				"correlation_id": "corr-1",
			},
		},
		{
			name: "refill needed",
			n: notify.Notification{
				Kind:      notify.KindRefillNeeded,
				Recipient: notify.Staff,
				Text:      "Product PRODUCT-123 has to be REFILLED!",
				ProductID: "PRODUCT-123",
			},
			wantFields: map[string]any{
				"kind":           "refill-needed",
				"recipient":      "staff",
				"product_id":     "PRODUCT-123",
				"correlation_id": "corr-1",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			core, logs := observer.New(zapcore.DebugLevel)
			ctx := correlation.With(t.Context(), "corr-1")

			if err := notify.NewLogNotifier(zap.New(core)).Notify(ctx, tt.n); err != nil {
				t.Fatalf("Notify: %v", err)
			}

			entries := logs.AllUntimed()
			if len(entries) != 1 {
				t.Fatalf("logged %d entries, want 1: %+v", len(entries), entries)
			}
			e := entries[0]
			if e.Message != tt.n.Text {
				t.Errorf("message %q, want %q", e.Message, tt.n.Text)
			}
			if e.Level != zapcore.InfoLevel {
				t.Errorf("level %s, want info", e.Level)
			}
			if got := e.ContextMap(); !reflect.DeepEqual(got, tt.wantFields) {
				t.Errorf("fields %v\nwant %v", got, tt.wantFields)
			}
		})
	}
}
