package orders_test

import (
	"github.com/eventshop/eventshop/pkg/contracts"
)

// newOrderAction is the logging action that goes with every placed order.
var newOrderAction = contracts.LoggingAction{ServiceName: "order-service", Action: "new-order"}

// sampleOrder returns the tutorial's sample order under id.
func sampleOrder(id string) contracts.Order {
	o := contracts.SampleOrder()
	o.OrderID = id
	return o
}
