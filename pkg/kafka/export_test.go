package kafka

import "github.com/prometheus/client_golang/prometheus"

// WithStopping gives tests a context whose Stopping channel is stop, as a
// Consumer gives its handlers.
var WithStopping = withStopping

// Assignment returns the partitions c owns now, by topic; it is empty
// between sessions. Only the tests ask: the services see their partitions
// through OpenFunc, the logs and the assigned-partitions metric.
func (c *Consumer) Assignment() map[string][]int32 {
	if p := c.claims.Load(); p != nil {
		return *p
	}
	return nil
}

// Transactions returns the counter of transactions ended with outcome.
func (m *Metrics) Transactions(outcome string) prometheus.Counter {
	return m.transactions.WithLabelValues(outcome)
}
