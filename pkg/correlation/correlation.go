// Package correlation carries a correlation id in a context: the id that
// follows one order through every service and every event it causes. It has
// no dependencies, so domain packages can read the id without importing
// anything about Kafka.
package correlation

import "context"

type key struct{}

// With returns a context carrying id as its correlation id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, key{}, id)
}

// ID returns the correlation id carried by ctx, or "".
func ID(ctx context.Context) string {
	id, _ := ctx.Value(key{}).(string)
	return id
}
