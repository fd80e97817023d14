// Package contracts defines the events the shop's services exchange over Kafka:
// the topic names, one Go type per event, their validation, and their JSON
// encoding.
//
// There are three topics, each carrying one event type:
//
//   - new-order-topic ([Order], keyed by orderId): an order was placed.
//   - inventory-empty-topic ([InventoryEmpty], keyed by productId): a product's
//     stock fell to the threshold and has to be refilled.
//   - new-logging-action-topic ([LoggingAction], keyed by serviceName): a
//     service did something worth recording.
//
// The JSON bodies are exactly the contract of the original Node.js tutorial
// (camelCase field names, in the tutorial's order), so our Go services and the
// tutorial's kafkajs services can share the topics in either direction.
// Nothing may be added to a body: everything else a message carries (event
// id, correlation id, event type, schema version, production time, source
// service) travels in Kafka record headers, named by the Header constants,
// which the kafkajs consumers simply ignore.
//
// Decoding is strict about the contract and lenient about the rest: unknown
// fields are ignored so that a newer producer does not break an older
// consumer, while a missing id, a non-positive or fractional quantity, a
// negative price or an empty product list is rejected. Every such rejection
// satisfies errors.Is(err, [ErrInvalid]) and is a [*ValidationError] naming
// each offending field by its JSON path, such as products[1].quantity.
// Retrying cannot fix such a message, so consumers treat it as permanent.
package contracts
