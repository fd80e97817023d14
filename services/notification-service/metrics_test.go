package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/dedupe"
	"github.com/eventshop/eventshop/pkg/metricstest"
	"github.com/eventshop/eventshop/services/notification-service/internal/notify"
)

func TestMetricsCountNotificationsSentByKind(t *testing.T) {
	t.Parallel()
	s := notify.NewService(notify.NewLogNotifier(zap.NewNop()), dedupe.Bounds{Window: time.Hour, Limit: 100}, zap.NewNop())
	reg := prometheus.NewRegistry()
	if err := registerMetrics(reg, s); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ORDER-1", "ORDER-2", "ORDER-1"} { // the last one a repeat
		o := contracts.SampleOrder()
		o.OrderID = id
		if err := s.OrderApproved(t.Context(), o); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RefillNeeded(t.Context(), contracts.InventoryEmpty{ProductID: "PRODUCT-123"}); err != nil {
		t.Fatal(err)
	}
	m := metricstest.Gather(t, reg)
	for kind, want := range map[notify.Kind]float64{notify.KindOrderApproved: 2, notify.KindRefillNeeded: 1} {
		if got := m.Series("eventshop_notifications_sent_total", "kind", string(kind)); len(got) != 1 || got[0].Value != want {
			t.Errorf("eventshop_notifications_sent_total{kind=%q} = %v, want %g", kind, got, want)
		}
	}
}
