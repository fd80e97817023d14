package main

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
	"github.com/eventshop/eventshop/pkg/metricstest"
	"github.com/eventshop/eventshop/services/order-service/internal/orders"
)

func TestMetricsCountOrdersPlacedBySource(t *testing.T) {
	t.Parallel()
	placer := orders.NewService(&eventbustest.Events{}, func() string { return "1" }, time.Second, zap.NewNop())
	reg := prometheus.NewRegistry()
	if err := registerMetrics(reg, placer); err != nil {
		t.Fatal(err)
	}
	for _, source := range []orders.Source{orders.SourceHTTP, orders.SourceHTTP, orders.SourceSimulator} {
		if err := placer.Place(t.Context(), contracts.SampleOrder(), source); err != nil {
			t.Fatal(err)
		}
	}
	m := metricstest.Gather(t, reg)
	for source, want := range map[orders.Source]float64{orders.SourceHTTP: 2, orders.SourceSimulator: 1} {
		if got := m.Series("eventshop_orders_placed_total", "source", string(source)); len(got) != 1 || got[0].Value != want {
			t.Errorf("eventshop_orders_placed_total{source=%q} = %v, want %g", source, got, want)
		}
	}
}
