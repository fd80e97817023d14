package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// pollInterval is how often the harness looks at the consumer groups.
const pollInterval = 100 * time.Millisecond

// consumers are the services that drain new-order-topic and what follows it.
var consumers = []string{contracts.ServiceInventory, contracts.ServiceNotification, contracts.ServiceLogging}

// drainResult is what the drain benchmark measured.
type drainResult struct {
	orders int
	// elapsed runs from starting the consumers until every group had
	// committed every record of every partition it consumes and the
	// inventory's events were all on their topics.
	elapsed  time.Duration
	services []serviceDrain
	// want is what the rule says the inventory must publish, got what the
	// harness found on the topics.
	want, got inventoryEvents
}

// serviceDrain is how one consumer did.
type serviceDrain struct {
	name  string
	group string // the consumer group id it was given
	// caughtUp is when its groups last became caught up, from the start.
	caughtUp time.Duration
	topics   []string
	peakRSS  int64
	// cpu is the CPU time the process used, from its start to the end of
	// the drain.
	cpu time.Duration
}

// runDrain writes opts.orders sample orders to new-order-topic, then starts
// the three consumers and measures how long they take to drain them.
func runDrain(ctx context.Context, opts options) (res drainResult, err error) {
	tb, err := newTestbed(ctx, opts, "drain")
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, tb.close()) }()

	orders := make([]contracts.Order, opts.orders)
	for i := range orders {
		orders[i] = tb.sampleOrder(i)
	}
	res.orders = len(orders)
	res.want = tutorialRule.expect(orders)
	if err := publishOrders(ctx, tb, orders); err != nil {
		return res, fmt.Errorf("drain: %w", err)
	}

	start := time.Now()
	for _, name := range consumers {
		if _, err := tb.startService(ctx, name, "console", nil); err != nil {
			return res, fmt.Errorf("drain: %w", err)
		}
	}
	w := newDrainWatch(tb, start, res.want)
	timeout := 30*time.Second + time.Duration(opts.orders)*2*time.Millisecond
	if res.elapsed, err = w.wait(ctx, timeout); err != nil {
		return res, fmt.Errorf("drain: %w", err)
	}
	res.got = w.tally.got
	for _, s := range tb.services {
		rss, err := s.peakRSS()
		if err != nil {
			return res, fmt.Errorf("drain: %w", err)
		}
		cpu, err := s.cpuTime()
		if err != nil {
			return res, fmt.Errorf("drain: %w", err)
		}
		res.services = append(res.services, serviceDrain{
			name: s.name, group: tb.group(s.name), caughtUp: w.caughtUp[s.name].Sub(start), topics: w.progress[s.name].topics,
			peakRSS: rss, cpu: cpu,
		})
	}
	return res, nil
}

// publishOrders writes orders to new-order-topic as order-service does, with
// eventbus's standard headers, from several goroutines so that the producer
// batches them. Each order gets its own correlation id, <run>-<i>: the
// events the inventory causes carry it and so tell this run's from others'.
func publishOrders(ctx context.Context, tb *testbed, orders []contracts.Order) error {
	producer, err := kafka.NewProducer(tb.kafkaConfig())
	if err != nil {
		return fmt.Errorf("producer: %w", err)
	}
	defer producer.Close()
	pub := eventbus.NewPublisher(producer, contracts.ServiceOrder)
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second+time.Duration(len(orders))*time.Millisecond)
	defer cancel()

	const writers = 64
	next := make(chan int)
	errs := make([]error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range next {
				if errs[w] != nil {
					continue // keep taking work so the feeder never blocks
				}
				octx := correlation.With(ctx, tb.correlationID(i))
				if err := pub.Publish(octx, orders[i]); err != nil {
					errs[w] = fmt.Errorf("publish order %d of %d: %w", i+1, len(orders), err)
				}
			}
		})
	}
	for i := range orders {
		next <- i
	}
	close(next)
	wg.Wait()
	return errors.Join(errs...)
}

// correlationID returns the correlation id of the run's i-th order.
func (tb *testbed) correlationID(i int) string { return fmt.Sprintf("%s-%d", tb.run, i) }

// ours reports whether a correlation id is one of this run's orders'.
func (tb *testbed) ours(correlationID string) bool {
	return strings.HasPrefix(correlationID, tb.run+"-")
}

// drainWatch follows the consumers until they are done.
type drainWatch struct {
	tb       *testbed
	start    time.Time
	want     inventoryEvents
	caughtUp map[string]time.Time // since when each service is caught up; zero while behind
	progress map[string]groupProgress
	tally    eventTally
}

func newDrainWatch(tb *testbed, start time.Time, want inventoryEvents) *drainWatch {
	return &drainWatch{
		tb: tb, start: start, want: want,
		caughtUp: map[string]time.Time{}, progress: map[string]groupProgress{},
		tally: eventTally{tb: tb},
	}
}

// wait polls until every consumer has caught up and the inventory's events
// are all on their topics, and returns the time from the start to the poll
// that saw it.
func (w *drainWatch) wait(ctx context.Context, timeout time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		if err := w.tb.checkRunning(); err != nil {
			return 0, err
		}
		seen, all, err := w.poll()
		if err != nil {
			return 0, err
		}
		if all {
			if err := w.tally.countTo(ctx); err != nil {
				return 0, err
			}
			if w.tally.got.covers(w.want) {
				return seen.Sub(w.start), nil
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("not drained after %s: %s", timeout, w.describe())
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(pollInterval):
		}
	}
}

// poll looks at every consumer's groups once and reports when it did and
// whether all were caught up.
func (w *drainWatch) poll() (time.Time, bool, error) {
	all := true
	for _, name := range consumers {
		prog, err := w.tb.cluster.progress(w.tb.group(name))
		if err != nil {
			return time.Time{}, false, err
		}
		w.progress[name] = prog
		switch {
		case !prog.caughtUp():
			w.caughtUp[name] = time.Time{}
			all = false
		case w.caughtUp[name].IsZero():
			w.caughtUp[name] = time.Now()
		}
	}
	return time.Now(), all, nil
}

// describe says where each consumer stands, for a timeout's error.
func (w *drainWatch) describe() string {
	var parts []string
	for _, name := range consumers {
		p := w.progress[name]
		parts = append(parts, fmt.Sprintf("%s: %d groups, %d members, lag %d on %v", name, len(p.groups), p.members, p.lag, p.topics))
	}
	parts = append(parts, fmt.Sprintf("inventory events %+v, want %+v", w.tally.got, w.want))
	return strings.Join(parts, "; ")
}

// eventTally counts this run's inventory events on their topics, reading
// on from where it stopped the last time.
type eventTally struct {
	tb   *testbed
	next offsets
	got  inventoryEvents
}

// countTo reads new-logging-action-topic and inventory-empty-topic up to
// their current ends.
func (e *eventTally) countTo(ctx context.Context) error {
	if e.next == nil {
		e.next = offsets{}
		for _, t := range []string{contracts.TopicNewLoggingAction, contracts.TopicInventoryEmpty} {
			e.next[t] = e.tb.start[t]
		}
	}
	ends, err := e.tb.cluster.endOffsets([]string{contracts.TopicNewLoggingAction, contracts.TopicInventoryEmpty})
	if err != nil {
		return err
	}
	for topic, to := range ends {
		if err := e.tb.cluster.scan(ctx, topic, e.next[topic], to, time.Minute, e.count); err != nil {
			return err
		}
		e.next[topic] = to
	}
	return nil
}

// count counts one record if the inventory published it for this run.
func (e *eventTally) count(m *kafka.Message) {
	if !e.tb.ours(m.Header(contracts.HeaderCorrelationID)) {
		return
	}
	switch m.Topic {
	case contracts.TopicInventoryEmpty:
		e.got.empties++
	case contracts.TopicNewLoggingAction:
		a, err := contracts.DecodeLoggingAction(m.Value)
		if err != nil || a.ServiceName != contracts.ServiceInventory {
			return
		}
		switch a.Action {
		case contracts.ActionInventoryUpdated:
			e.got.updated++
		case contracts.ActionInventoryEmpty:
			e.got.refills++
		}
	}
}
