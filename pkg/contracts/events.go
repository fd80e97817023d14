package contracts

import "fmt"

// Event is implemented by the three event types, so that producers can send
// any of them the same way.
type Event interface {
	// Topic returns the name of the topic the event is sent to.
	Topic() string
	// Key returns the record key, which decides the partition and so the
	// order in which a consumer sees related events.
	Key() string
	// EventType returns the event's HeaderEventType value.
	EventType() string
	// Validate reports every way the event breaks the contract.
	Validate() error
}

// Order is the body of new-order-topic: an order that was placed.
type Order struct {
	OrderID    string      `json:"orderId"`
	CustomerID string      `json:"customerId"`
	Products   []OrderLine `json:"products"`
}

// OrderLine is one product of an Order.
type OrderLine struct {
	ProductID string `json:"productId"`
	// Quantity is the number of items ordered. It is an int rather than the
	// tutorial's JavaScript number because stock is counted in whole items.
	Quantity int `json:"quantity"`
	// TotalPrice is the price of the whole line, not of one item.
	TotalPrice float64 `json:"totalPrice"`
}

// Topic returns TopicNewOrder.
func (Order) Topic() string { return TopicNewOrder }

// Key returns the order id: all events of one order land in one partition.
func (o Order) Key() string { return o.OrderID }

// EventType returns EventTypeNewOrder.
func (Order) EventType() string { return EventTypeNewOrder }

// Validate returns a *ValidationError listing every field of o that breaks
// the contract, or nil if o is valid.
func (o Order) Validate() error {
	c := checker{eventType: EventTypeNewOrder}
	o.check(&c)
	return c.err()
}

func (o Order) check(c *checker) {
	c.text("orderId", o.OrderID)
	c.text("customerId", o.CustomerID)
	if len(o.Products) == 0 {
		c.add("products", reasonNoProducts)
	}
	for i, line := range o.Products {
		// The line's path is built only for a line that needs it: valid
		// orders are the common case and fmt is not free.
		if !line.valid() {
			line.check(c, linePath(i))
		}
	}
}

func (l OrderLine) valid() bool {
	return textProblem(l.ProductID) == "" && quantityProblem(l.Quantity) == "" && priceProblem(l.TotalPrice) == ""
}

func (l OrderLine) check(c *checker, path string) {
	c.text(path+".productId", l.ProductID)
	c.quantity(path+".quantity", l.Quantity)
	c.price(path+".totalPrice", l.TotalPrice)
}

func linePath(i int) string { return fmt.Sprintf("products[%d]", i) }

// InventoryEmpty is the body of inventory-empty-topic: a product's stock fell
// to the threshold and has to be refilled.
type InventoryEmpty struct {
	ProductID string `json:"productId"`
}

// Topic returns TopicInventoryEmpty.
func (InventoryEmpty) Topic() string { return TopicInventoryEmpty }

// Key returns the product id, so a product's events stay in order.
func (e InventoryEmpty) Key() string { return e.ProductID }

// EventType returns EventTypeInventoryEmpty.
func (InventoryEmpty) EventType() string { return EventTypeInventoryEmpty }

// Validate returns a *ValidationError if e breaks the contract, or nil.
func (e InventoryEmpty) Validate() error {
	c := checker{eventType: EventTypeInventoryEmpty}
	e.check(&c)
	return c.err()
}

func (e InventoryEmpty) check(c *checker) { c.text("productId", e.ProductID) }

// LoggingAction is the body of new-logging-action-topic: a service did
// something worth recording. Action is usually one of the Action constants,
// but any non-blank text is valid, as the tutorial's services may send others.
type LoggingAction struct {
	ServiceName string `json:"serviceName"`
	Action      string `json:"action"`
}

// Topic returns TopicNewLoggingAction.
func (LoggingAction) Topic() string { return TopicNewLoggingAction }

// Key returns the service name, so each service's actions stay in order.
func (a LoggingAction) Key() string { return a.ServiceName }

// EventType returns EventTypeLoggingAction.
func (LoggingAction) EventType() string { return EventTypeLoggingAction }

// Validate returns a *ValidationError listing every field of a that breaks
// the contract, or nil if a is valid.
func (a LoggingAction) Validate() error {
	c := checker{eventType: EventTypeLoggingAction}
	a.check(&c)
	return c.err()
}

func (a LoggingAction) check(c *checker) {
	c.text("serviceName", a.ServiceName)
	c.text("action", a.Action)
}

// SampleOrder returns the tutorial's sample order, which the order service's
// simulator sends over and over. Each call returns a new value, so callers
// may modify it.
func SampleOrder() Order {
	return Order{
		OrderID:    "ORDER-123",
		CustomerID: "CUSTOMER-123",
		Products: []OrderLine{
			{ProductID: "PRODUCT-123", Quantity: 3, TotalPrice: 80},
			{ProductID: "PRODUCT-321", Quantity: 1, TotalPrice: 233},
		},
	}
}
