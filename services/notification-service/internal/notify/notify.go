// Package notify decides who is told what when an order is approved or a
// product runs low. How a notification reaches its recipient is behind the
// Notifier interface: by default it is written to the service log, and an
// email or chat sender can replace that without touching the rules here.
package notify

import (
	"context"
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/dedupe"
	"github.com/eventshop/eventshop/pkg/logging"
)

// Kind says what a Notification is about.
type Kind string

// The kinds of notification the shop sends.
const (
	// KindOrderApproved tells a customer that their order went through.
	KindOrderApproved Kind = "order-approved"
	// KindRefillNeeded tells the staff that a product has to be restocked.
	KindRefillNeeded Kind = "refill-needed"
)

// Staff is the Recipient of notifications meant for the shop's own people
// rather than for a customer.
const Staff = "staff"

// Notification is one message to one recipient.
type Notification struct {
	Kind Kind
	// Recipient is a customer id, or Staff.
	Recipient string
	// Text is the message as the recipient reads it.
	Text string
	// OrderID, CustomerID and ProductID name what the notification is about;
	// each is set only for the kinds it applies to.
	OrderID    string
	CustomerID string
	ProductID  string
}

// Notifier delivers notifications.
type Notifier interface {
	// Notify delivers n. An error means n was not delivered and may be
	// tried again.
	Notify(ctx context.Context, n Notification) error
}

// Service turns shop events into notifications.
//
// Events arrive at least once, and a client that got no answer places its
// order again with the same orderId. So a Service congratulates once per
// order id, and sends a refill notice once per event id, within the bounds
// it is given. Its memory is its own: a repeat that comes after the bounds,
// after a restart, or to another instance notifies again. A refill notice
// is not matched by its product: the same product running low again is
// news.
type Service struct {
	notifier Notifier
	log      *zap.Logger
	orders   *dedupe.Set // ids of the orders congratulated
	refills  *dedupe.Set // event ids of the refill notices sent

	mu   sync.Mutex
	sent map[Kind]int
}

// NewService returns a Service that sends through n, remembers the ids of
// each kind within b, and logs the repeats it drops to log at debug level.
func NewService(n Notifier, b dedupe.Bounds, log *zap.Logger) *Service {
	return &Service{notifier: n, log: log, orders: dedupe.NewSet(b), refills: dedupe.NewSet(b),
		sent: make(map[Kind]int)}
}

// Sent returns how many notifications of kind the Service has delivered
// since it started.
func (s *Service) Sent(kind Kind) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sent[kind]
}

// send delivers n and counts it.
func (s *Service) send(ctx context.Context, n Notification) error {
	if err := s.notifier.Notify(ctx, n); err != nil {
		return err
	}
	s.mu.Lock()
	s.sent[n.Kind]++
	s.mu.Unlock()
	return nil
}

// OrderApproved congratulates the customer who placed o, unless o's order id
// was congratulated already. An invalid order is reported with an error
// matching contracts.ErrInvalid, so it is not retried.
func (s *Service) OrderApproved(ctx context.Context, o contracts.Order) error {
	if err := o.Validate(); err != nil {
		return err
	}
	if !s.orders.Add(o.OrderID) {
		s.log.Debug("order congratulated before, repeat dropped", withCorrelation(ctx, zap.String("order_id", o.OrderID))...)
		return nil
	}
	n := Notification{
		Kind:       KindOrderApproved,
		Recipient:  o.CustomerID,
		Text:       fmt.Sprintf("Congrats %s, your order %s has been approved!", o.CustomerID, o.OrderID),
		OrderID:    o.OrderID,
		CustomerID: o.CustomerID,
	}
	if err := s.send(ctx, n); err != nil {
		s.orders.Remove(o.OrderID) // the retry is not a repeat
		return fmt.Errorf("notify %s of order %s: %w", o.CustomerID, o.OrderID, err)
	}
	return nil
}

// RefillNeeded asks the staff to restock the product named by e, unless the
// event, by its id in ctx (correlation.EventID), was notified already. An
// event without an id (from a producer that sets no headers) is always
// notified. An invalid event is reported with an error matching
// contracts.ErrInvalid.
func (s *Service) RefillNeeded(ctx context.Context, e contracts.InventoryEmpty) error {
	if err := e.Validate(); err != nil {
		return err
	}
	eventID := correlation.EventID(ctx)
	if eventID != "" && !s.refills.Add(eventID) {
		s.log.Debug("refill notice sent before, repeat dropped",
			withCorrelation(ctx, zap.String("event_id", eventID), zap.String("product_id", e.ProductID))...)
		return nil
	}
	n := Notification{
		Kind:      KindRefillNeeded,
		Recipient: Staff,
		Text:      fmt.Sprintf("Product %s has to be REFILLED!", e.ProductID),
		ProductID: e.ProductID,
	}
	if err := s.send(ctx, n); err != nil {
		if eventID != "" {
			s.refills.Remove(eventID)
		}
		return fmt.Errorf("notify %s to refill %s: %w", Staff, e.ProductID, err)
	}
	return nil
}

// withCorrelation returns fields and, if ctx has them, the correlation id
// and the trace.
func withCorrelation(ctx context.Context, fields ...zap.Field) []zap.Field {
	if id := correlation.ID(ctx); id != "" {
		fields = append(fields, zap.String("correlation_id", id))
	}
	return append(fields, logging.Trace(ctx))
}
