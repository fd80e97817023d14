package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a consumed record, the outcome label of
// eventshop_consumer_records_total.
const (
	OutcomeOK           = "ok"
	OutcomeRetried      = "retried"
	OutcomeDeadLettered = "dead_lettered"
)

// durationBuckets suit work that takes milliseconds: a produce acknowledged
// by a local broker, a handler that publishes once.
var durationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Metrics are the Prometheus metrics of a process's producers and
// consumers. A process makes one with NewMetrics and sets it in every
// Config; a nil *Metrics records nothing.
type Metrics struct {
	records     *prometheus.CounterVec   // group, topic, outcome
	handlerTime *prometheus.HistogramVec // group, topic
	rebalances  *prometheus.CounterVec   // group
	assigned    *prometheus.GaugeVec     // group
	lag         *lagCollector

	produced      *prometheus.CounterVec // topic
	produceErrors *prometheus.CounterVec // topic
	batches       prometheus.Counter
	produceTime   prometheus.Histogram
	transactions  *prometheus.CounterVec // outcome
	txnTime       prometheus.Histogram
}

// NewMetrics registers the metrics of consuming and producing with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventshop_consumer_records_total",
			Help: "Records consumed, by outcome: ok (handled), retried (a handler attempt failed and will be tried again), dead_lettered.",
		}, []string{"group", "topic", "outcome"}),
		handlerTime: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "eventshop_consumer_handler_duration_seconds",
			Help:    "Time of one handler call, on one record or one batch.",
			Buckets: durationBuckets,
		}, []string{"group", "topic"}),
		rebalances: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventshop_consumer_rebalances_total",
			Help: "Consumer group sessions set up: the first join and every rebalance after it.",
		}, []string{"group"}),
		assigned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "eventshop_consumer_assigned_partitions",
			Help: "Partitions this process owns in the consumer group.",
		}, []string{"group"}),
		lag: &lagCollector{desc: prometheus.NewDesc("eventshop_consumer_lag_records",
			"Records of an owned partition not handled yet: the high watermark minus the next offset to handle.",
			[]string{"group", "topic", "partition"}, nil)},
		produced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventshop_producer_records_total",
			Help: "Records published and acknowledged.",
		}, []string{"topic"}),
		produceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventshop_producer_errors_total",
			Help: "Records a publish failed to deliver.",
		}, []string{"topic"}),
		batches: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "eventshop_producer_batches_total",
			Help: "Publish calls whose records were all acknowledged.",
		}),
		produceTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventshop_producer_duration_seconds",
			Help:    "Time from a publish call to the acknowledgement of all its records.",
			Buckets: durationBuckets,
		}),
		transactions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "eventshop_producer_transactions_total",
			Help: "Transactions ended, by outcome: committed or aborted.",
		}, []string{"outcome"}),
		txnTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "eventshop_producer_transaction_duration_seconds",
			Help:    "Time from the start of a transaction to its commit.",
			Buckets: durationBuckets,
		}),
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.records, m.handlerTime, m.rebalances, m.assigned, m.lag,
		m.produced, m.produceErrors, m.batches, m.produceTime, m.transactions, m.txnTime} {
		errs = append(errs, reg.Register(c))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("kafka metrics: %w", err)
	}
	return m, nil
}

// published counts the outcome of sending msgs, which took d.
func (m *Metrics) published(msgs []*sarama.ProducerMessage, err error, d time.Duration) {
	if m == nil {
		return
	}
	var failed map[*sarama.ProducerMessage]bool
	var perrs sarama.ProducerErrors
	if errors.As(err, &perrs) {
		failed = make(map[*sarama.ProducerMessage]bool, len(perrs))
		for _, pe := range perrs {
			failed[pe.Msg] = true
		}
	}
	// A batch holds few topics: add up per topic, then touch each
	// counter once.
	ok, bad := map[string]float64{}, map[string]float64{}
	for _, msg := range msgs {
		if err != nil && (failed == nil || failed[msg]) {
			bad[msg.Topic]++
		} else {
			ok[msg.Topic]++
		}
	}
	for topic, n := range ok {
		m.produced.WithLabelValues(topic).Add(n)
	}
	for topic, n := range bad {
		m.produceErrors.WithLabelValues(topic).Add(n)
	}
	if err == nil {
		m.batches.Inc()
		m.produceTime.Observe(d.Seconds())
	}
}

// transaction counts a transaction that took d: committed with the records
// sent in it, by topic, or aborted after err.
func (m *Metrics) transaction(records map[string]float64, err error, d time.Duration) {
	if m == nil {
		return
	}
	if err != nil {
		m.transactions.WithLabelValues("aborted").Inc()
		return
	}
	m.transactions.WithLabelValues("committed").Inc()
	m.txnTime.Observe(d.Seconds())
	for topic, n := range records {
		m.produced.WithLabelValues(topic).Add(n)
	}
}

// refused counts records a publish refused before sending them.
func (m *Metrics) refused(records []Record) {
	if m == nil {
		return
	}
	for _, r := range records {
		m.produceErrors.WithLabelValues(r.Topic).Inc()
	}
}

// joining makes the series of a consumer group, at zero until it joins.
func (m *Metrics) joining(group string) {
	if m == nil {
		return
	}
	m.rebalances.WithLabelValues(group)
	m.assigned.WithLabelValues(group)
}

// sessionStarted counts a session that owns claims, and sessionEnded
// gives them back.
func (m *Metrics) sessionStarted(group string, claims map[string][]int32) {
	if m == nil {
		return
	}
	m.rebalances.WithLabelValues(group).Inc()
	m.assigned.WithLabelValues(group).Add(float64(countPartitions(claims)))
}

func (m *Metrics) sessionEnded(group string, claims map[string][]int32) {
	if m == nil {
		return
	}
	m.assigned.WithLabelValues(group).Sub(float64(countPartitions(claims)))
}

func countPartitions(claims map[string][]int32) int {
	n := 0
	for _, ps := range claims {
		n += len(ps)
	}
	return n
}

// metricsOf starts the metrics of claim; nil without Metrics.
func (c *Consumer) metricsOf(claim sarama.ConsumerGroupClaim) *claimMetrics {
	if c.metrics == nil {
		return nil
	}
	return c.metrics.claim(c.cfg.Group, claim, c.startOffset(claim))
}

// startOffset returns the offset where claim starts, which sarama resolved
// without telling; -1 if it cannot be learnt.
func (c *Consumer) startOffset(claim sarama.ConsumerGroupClaim) int64 {
	switch off := claim.InitialOffset(); off {
	case sarama.OffsetNewest:
		// sarama read the high watermark when it started the claim.
		return claim.HighWaterMarkOffset()
	case sarama.OffsetOldest:
		oldest, err := c.client.GetOffset(claim.Topic(), claim.Partition(), sarama.OffsetOldest)
		if err != nil {
			return -1
		}
		return oldest
	default:
		return off
	}
}

// claim starts the metrics of a claimed partition, whose next offset to
// handle is next, or unknown if negative. Its lag is reported until release.
func (m *Metrics) claim(group string, claim sarama.ConsumerGroupClaim, next int64) *claimMetrics {
	if m == nil {
		return nil
	}
	records := m.records.MustCurryWith(prometheus.Labels{"group": group, "topic": claim.Topic()})
	cm := &claimMetrics{
		ok:           records.WithLabelValues(OutcomeOK),
		retried:      records.WithLabelValues(OutcomeRetried),
		deadLettered: records.WithLabelValues(OutcomeDeadLettered),
		handlerTime:  m.handlerTime.WithLabelValues(group, claim.Topic()),
		lag: &partitionLag{
			key:   lagKey{group: group, topic: claim.Topic(), partition: claim.Partition()},
			claim: claim,
		},
		lags: m.lag,
	}
	cm.lag.next.Store(next)
	m.lag.add(cm.lag)
	return cm
}

// claimMetrics are the metrics of one claimed partition; nil records
// nothing. Its methods are called by the claim's goroutine, except those
// the handler calls through its context (retry, deadLetter), which are
// safe for concurrent use.
type claimMetrics struct {
	ok, retried, deadLettered prometheus.Counter
	handlerTime               prometheus.Observer
	lag                       *partitionLag
	lags                      *lagCollector

	// deadInAttempt counts the records of the batch in hand that the
	// handler dead-lettered in its current attempt.
	deadInAttempt atomic.Int64
}

// received notes that a batch starting at offset arrived: if the next
// offset was unknown, it is that one.
func (cm *claimMetrics) received(offset int64) {
	if cm != nil && cm.lag.next.Load() < 0 {
		cm.lag.next.Store(offset)
	}
}

// attempt times one handler call on a batch of n records; it counts them
// retried if the call failed.
func (cm *claimMetrics) attempt(n int, call func() error) error {
	if cm == nil {
		return call()
	}
	cm.deadInAttempt.Store(0)
	start := time.Now()
	err := call()
	cm.handlerTime.Observe(time.Since(start).Seconds())
	if err != nil {
		cm.retried.Add(float64(n))
	}
	return err
}

// handled counts a batch of n records handled, the next offset being next.
func (cm *claimMetrics) handled(n int, next int64) {
	if cm == nil {
		return
	}
	dead := min(cm.deadInAttempt.Load(), int64(n))
	cm.ok.Add(float64(int64(n) - dead))
	cm.deadLettered.Add(float64(dead))
	cm.lag.next.Store(next)
}

// release stops reporting the partition's lag.
func (cm *claimMetrics) release() {
	if cm != nil {
		cm.lags.remove(cm.lag)
	}
}

type claimMetricsKey struct{}

func withClaimMetrics(ctx context.Context, cm *claimMetrics) context.Context {
	if cm == nil {
		return ctx
	}
	return context.WithValue(ctx, claimMetricsKey{}, cm)
}

// claimMetricsOf returns the metrics of the partition whose handler got
// ctx, or nil outside a Consumer.
func claimMetricsOf(ctx context.Context) *claimMetrics {
	cm, _ := ctx.Value(claimMetricsKey{}).(*claimMetrics)
	return cm
}

// retry counts a handler attempt on one record that failed and will be
// tried again.
func (cm *claimMetrics) retry() {
	if cm != nil {
		cm.retried.Inc()
	}
}

// deadLetter counts a record of the batch in hand that goes to the
// dead-letter topic instead of being handled.
func (cm *claimMetrics) deadLetter() {
	if cm != nil {
		cm.deadInAttempt.Add(1)
	}
}

// lagKey names a lag series.
type lagKey struct {
	group, topic string
	partition    int32
}

// partitionLag is what the lag of one owned partition is made of.
type partitionLag struct {
	key   lagKey
	claim sarama.ConsumerGroupClaim
	// next is the next offset to handle, negative while unknown.
	next atomic.Int64
}

// lagCollector reports the lag of every partition the process owns, read
// when scraped: the high watermark is the one of sarama's latest fetch.
type lagCollector struct {
	desc *prometheus.Desc

	mu         sync.Mutex
	partitions map[lagKey]*partitionLag
}

func (c *lagCollector) add(p *partitionLag) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.partitions == nil {
		c.partitions = make(map[lagKey]*partitionLag)
	}
	// A member evicted while still handling and the member that took
	// over may overlap in one process: the newer claim is reported.
	c.partitions[p.key] = p
}

func (c *lagCollector) remove(p *partitionLag) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.partitions[p.key] == p {
		delete(c.partitions, p.key)
	}
}

func (c *lagCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *lagCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, p := range c.partitions {
		lag := int64(0)
		if next := p.next.Load(); next >= 0 {
			lag = max(0, p.claim.HighWaterMarkOffset()-next)
		}
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(lag),
			k.group, k.topic, strconv.Itoa(int(k.partition)))
	}
}
