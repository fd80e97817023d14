package main

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventshop/eventshop/services/notification-service/internal/notify"
)

// registerMetrics exports the notifications sent, by kind, as s counts
// them.
func registerMetrics(reg prometheus.Registerer, s *notify.Service) error {
	var errs []error
	for _, kind := range []notify.Kind{notify.KindOrderApproved, notify.KindRefillNeeded} {
		errs = append(errs, reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "eventshop_notifications_sent_total",
			Help:        "Notifications delivered, by kind: order-approved or refill-needed.",
			ConstLabels: prometheus.Labels{"kind": string(kind)},
		}, func() float64 { return float64(s.Sent(kind)) })))
	}
	return errors.Join(errs...)
}
