package main

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventshop/eventshop/services/order-service/internal/orders"
)

// registerMetrics exports the orders placed, by source, as the placer
// counts them.
func registerMetrics(reg prometheus.Registerer, placer *orders.Service) error {
	var errs []error
	for _, source := range []orders.Source{orders.SourceHTTP, orders.SourceSimulator} {
		errs = append(errs, reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "eventshop_orders_placed_total",
			Help:        "Orders placed and acknowledged, by source: http or simulator.",
			ConstLabels: prometheus.Labels{"source": string(source)},
		}, func() float64 { return float64(placer.Placed(source)) })))
	}
	return errors.Join(errs...)
}
