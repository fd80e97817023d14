package contracts

// Topic names, as the Node.js tutorial created them.
const (
	TopicNewOrder         = "new-order-topic"
	TopicInventoryEmpty   = "inventory-empty-topic"
	TopicNewLoggingAction = "new-logging-action-topic"
)

// Topics returns the names of all topics of the contract, for creating them at
// start-up. The slice is new on every call, so callers may modify it.
func Topics() []string {
	return []string{TopicNewOrder, TopicInventoryEmpty, TopicNewLoggingAction}
}

// Record header names. The body must stay byte-compatible with the tutorial,
// so everything a Go service adds about a message travels in these headers,
// which kafkajs consumers ignore. Values are UTF-8 strings.
const (
	// HeaderEventID identifies one event, so consumers can recognise a
	// redelivery of it.
	HeaderEventID = "event-id"
	// HeaderCorrelationID ties together the events caused by one request
	// (an HTTP order and everything that follows from it).
	HeaderCorrelationID = "correlation-id"
	// HeaderEventType holds one of the EventType constants, so a consumer can
	// tell what a body is without guessing from the topic.
	HeaderEventType = "event-type"
	// HeaderSchemaVersion holds the version of the body's contract;
	// currently always SchemaVersion.
	HeaderSchemaVersion = "schema-version"
	// HeaderProducedAt holds when the event was produced, in UTC, formatted
	// with time.RFC3339Nano.
	HeaderProducedAt = "produced-at"
	// HeaderSourceService holds the name of the producing service, one of the
	// Service constants.
	HeaderSourceService = "source-service"
)

// Values of HeaderEventType, one per event type.
const (
	EventTypeNewOrder       = "new-order"
	EventTypeInventoryEmpty = "inventory-empty"
	EventTypeLoggingAction  = "logging-action"
)

// SchemaVersion is the value of HeaderSchemaVersion for the bodies this
// package encodes. It changes only if the body contract does.
const SchemaVersion = "1"

// Values of LoggingAction.Action sent by the services.
const (
	ActionNewOrder                = "new-order"
	ActionInventoryUpdated        = "inventory-updated"
	ActionInventoryEmpty          = "inventory-empty"
	ActionInventoryUnknownProduct = "inventory-unknown-product"
)

// Service names, used as LoggingAction.ServiceName and in HeaderSourceService.
const (
	ServiceOrder        = "order-service"
	ServiceInventory    = "inventory-service"
	ServiceNotification = "notification-service"
	ServiceLogging      = "logging-service"
)
