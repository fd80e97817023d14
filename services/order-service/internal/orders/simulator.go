package orders

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// Simulator stands in for shoppers, as the tutorial does: it places the
// tutorial's sample order at start and then again at a fixed interval, each
// time under a fresh order id.
type Simulator struct {
	orders   *Service
	interval time.Duration
	log      *zap.Logger
}

// NewSimulator returns a Simulator that places orders through orders every
// interval. An interval of 0 turns it off.
func NewSimulator(orders *Service, interval time.Duration, log *zap.Logger) *Simulator {
	return &Simulator{orders: orders, interval: interval, log: log}
}

// Run places the first order at once and then one per interval until ctx
// ends; when off, it returns at once. A failed order is logged and the next
// tick tries again: Kafka being away for a while must not stop the service,
// so Run always returns nil.
func (s *Simulator) Run(ctx context.Context) error {
	if s.interval <= 0 {
		s.log.Info("order simulator off")
		return nil
	}
	s.log.Info("order simulator started", zap.Duration("interval", s.interval))
	ticker := time.NewTicker(s.interval)
	defer ticker.Stop()
	for {
		s.placeOne(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
	}
}

func (s *Simulator) placeOne(ctx context.Context) {
	order := contracts.SampleOrder()
	order.OrderID = s.orders.NewOrderID()
	err := s.orders.Place(ctx, order, SourceSimulator)
	if err != nil && ctx.Err() == nil {
		s.log.Error("simulated order failed", zap.String("order_id", order.OrderID), zap.Error(err))
	}
}
