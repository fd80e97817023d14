// Package correlation carries in a context the ids of the event a handler is
// working on: the correlation id, which follows one order through every
// service and every event it causes, and the event's own id, by which a
// repeat of it is recognised. It has no dependencies, so domain packages can
// read the ids without importing anything about Kafka.
package correlation

import "context"

type (
	key        struct{}
	eventIDKey struct{}
)

// With returns a context carrying id as its correlation id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// ID returns the correlation id carried by ctx, or "".
func ID(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}

// WithEventID returns a context carrying id as the id of the event being
// handled.
func WithEventID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, eventIDKey{}, id)
}

// EventID returns the id of the event being handled carried by ctx, or "":
// also for an event from a producer that sets no event id.
func EventID(ctx context.Context) string {
	id, _ := ctx.Value(eventIDKey{}).(string)
	return id
}
