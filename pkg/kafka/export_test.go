package kafka

// WithStopping gives tests a context whose Stopping channel is stop, as a
// Consumer gives its handlers.
var WithStopping = withStopping
