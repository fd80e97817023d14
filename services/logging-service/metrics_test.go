package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/dedupe"
	"github.com/eventshop/eventshop/pkg/metricstest"
	"github.com/eventshop/eventshop/services/logging-service/internal/actionlog"
)

func TestMetricsCountActionsAsGetActionsDoes(t *testing.T) {
	t.Parallel()
	r := actionlog.NewRecorder(zap.NewNop(), dedupe.Bounds{Window: time.Hour, Limit: 100})
	reg := prometheus.NewRegistry()
	reg.MustRegister(newActionsCollector(r))
	newOrder := contracts.LoggingAction{ServiceName: contracts.ServiceOrder, Action: contracts.ActionNewOrder}
	updated := contracts.LoggingAction{ServiceName: contracts.ServiceInventory, Action: contracts.ActionInventoryUpdated}
	for _, a := range []struct {
		eventID string
		action  contracts.LoggingAction
	}{
		{"e1", newOrder}, {"e2", newOrder}, {"e1", newOrder}, // the last one a repeat
		{"e3", updated},
	} {
		if err := r.Record(correlation.WithEventID(t.Context(), a.eventID), a.action); err != nil {
			t.Fatal(err)
		}
	}
	m := metricstest.Gather(t, reg)
	if n := len(m.Series("eventshop_logging_actions_total")); n != len(r.Counts()) {
		t.Errorf("%d series, want one per count of GET /actions: %v", n, r.Counts())
	}
	for _, c := range r.Counts() {
		got := m.Series("eventshop_logging_actions_total", "service", c.ServiceName, "action", c.Action)
		if len(got) != 1 || got[0].Value != float64(c.Count) {
			t.Errorf("eventshop_logging_actions_total{service=%q,action=%q} = %v, want %d", c.ServiceName, c.Action, got, c.Count)
		}
	}
	if got := m.Sum("eventshop_logging_actions_total", "action", contracts.ActionNewOrder); got != 2 {
		t.Errorf("new-order actions = %g, want 2: one per event id", got)
	}
}
