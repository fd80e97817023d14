package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventshop/eventshop/services/logging-service/internal/actionlog"
)

// actionsCollector exports the actions a Recorder counted, by service and
// action, once per event as GET /actions counts them: read at each scrape,
// the two never disagree.
type actionsCollector struct {
	recorder *actionlog.Recorder
	desc     *prometheus.Desc
}

func newActionsCollector(r *actionlog.Recorder) *actionsCollector {
	return &actionsCollector{recorder: r, desc: prometheus.NewDesc("eventshop_logging_actions_total",
		"Logging actions recorded, once per event id, by the service that reported them and action.",
		[]string{"service", "action"}, nil)}
}

func (c *actionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *actionsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, n := range c.recorder.Counts() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.CounterValue, float64(n.Count), n.ServiceName, n.Action)
	}
}
