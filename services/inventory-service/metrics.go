package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventshop/eventshop/services/inventory-service/internal/pipeline"
)

// stockCollector exports every product's stock and the times it ran empty,
// as the stock changelog tells them (the view behind GET /stock): each
// instance reports every product, whichever instance owns it, so the
// series of two instances agree rather than add up.
type stockCollector struct {
	view         *pipeline.View
	stock, empty *prometheus.Desc
}

func newStockCollector(v *pipeline.View) *stockCollector {
	return &stockCollector{
		view: v,
		stock: prometheus.NewDesc("eventshop_stock_items",
			"Items in stock, by product.", []string{"product"}, nil),
		empty: prometheus.NewDesc("eventshop_inventory_empty_total",
			"Times a product reached the threshold, was announced on inventory-empty-topic and refilled.",
			[]string{"product"}, nil),
	}
}

func (c *stockCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.stock
	ch <- c.empty
}

func (c *stockCollector) Collect(ch chan<- prometheus.Metric) {
	for id, p := range c.view.Products() {
		ch <- prometheus.MustNewConstMetric(c.stock, prometheus.GaugeValue, float64(p.Stock), id)
		ch <- prometheus.MustNewConstMetric(c.empty, prometheus.CounterValue, float64(p.Refills), id)
	}
}
