// Package notify decides who is told what when an order is approved or a
// product runs low. How a notification reaches its recipient is behind the
// Notifier interface: by default it is written to the service log, and an
// email or chat sender can replace that without touching the rules here.
package notify

import (
	"context"
	"fmt"

	"github.com/eventshop/eventshop/pkg/contracts"
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

// Notifier delivers notifications. An error means the notification was not
// delivered and may be tried again.
type Notifier interface {
	Notify(ctx context.Context, n Notification) error
}

// Service turns shop events into notifications.
//
// Events arrive at least once, so a redelivered event notifies again: a
// repeated "congrats" is harmless, a lost one is not.
type Service struct {
	notifier Notifier
}

// NewService returns a Service that sends through n.
func NewService(n Notifier) *Service {
	return &Service{notifier: n}
}

// OrderApproved congratulates the customer who placed o. An invalid order is
// reported with an error matching contracts.ErrInvalid, so it is not retried.
func (s *Service) OrderApproved(ctx context.Context, o contracts.Order) error {
	if err := o.Validate(); err != nil {
		return err
	}
	n := Notification{
		Kind:       KindOrderApproved,
		Recipient:  o.CustomerID,
		Text:       fmt.Sprintf("Congrats %s, your order %s has been approved!", o.CustomerID, o.OrderID),
		OrderID:    o.OrderID,
		CustomerID: o.CustomerID,
	}
	if err := s.notifier.Notify(ctx, n); err != nil {
		return fmt.Errorf("notify %s of order %s: %w", o.CustomerID, o.OrderID, err)
	}
	return nil
}

// RefillNeeded asks the staff to restock the product named by e. An invalid
// event is reported with an error matching contracts.ErrInvalid.
func (s *Service) RefillNeeded(ctx context.Context, e contracts.InventoryEmpty) error {
	if err := e.Validate(); err != nil {
		return err
	}
	n := Notification{
		Kind:      KindRefillNeeded,
		Recipient: Staff,
		Text:      fmt.Sprintf("Product %s has to be REFILLED!", e.ProductID),
		ProductID: e.ProductID,
	}
	if err := s.notifier.Notify(ctx, n); err != nil {
		return fmt.Errorf("notify %s to refill %s: %w", Staff, e.ProductID, err)
	}
	return nil
}
