package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// Bounds of the latency benchmark.
const (
	// latencyClients caps the POSTs in flight: a send due while all are busy
	// is skipped and counted, not queued to fire late in a burst.
	latencyClients = 512
	// tailTimeout bounds the wait, after the last POST, for the services to
	// handle the orders accepted.
	tailTimeout = 30 * time.Second
)

// latencyResult is what the latency benchmark measured at one rate.
type latencyResult struct {
	rate int
	load loadStats
	// tail is how long the harness waited after the last POST.
	tail time.Duration
	// notified runs from sending each accepted POST to notification-service
	// logging the congratulation; inventoried to logging-service logging
	// the last of the order's inventory-updated actions.
	notified, inventoried summary
}

// loadStats counts the POSTs of a paced load.
type loadStats struct {
	clients                         int
	sent, accepted, failed, skipped int
	elapsed                         time.Duration
}

// placedOrder is an accepted order and when its POST was sent.
type placedOrder struct {
	id     string
	sentAt time.Time
}

// runLatency runs the four services with JSON logs, posts orders at rate per
// second for opts.duration and measures, for each accepted order, how long
// it took to reach notification-service and, through inventory-service,
// logging-service. The times on both ends are wall-clock times of this
// machine: the harness's when it sends, the services' log timestamps when
// they handle.
func runLatency(ctx context.Context, opts options, rate int) (res latencyResult, err error) {
	res.rate = rate
	tb, err := newTestbed(ctx, opts, fmt.Sprintf("latency%d", rate))
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, tb.close()) }()

	arr := newArrivals()
	order, err := tb.startShop(ctx, arr)
	if err != nil {
		return res, fmt.Errorf("latency: %w", err)
	}
	if err := tb.waitReady(ctx, tb.services...); err != nil {
		return res, fmt.Errorf("latency: %w", err)
	}

	api := newOrderAPI(order.httpAddr, tb.orderBody(), latencyClients)
	defer api.client.CloseIdleConnections()
	placed, load := paceOrders(ctx, api, rate, opts.duration)
	res.load = load
	if err := ctx.Err(); err != nil {
		return res, err
	}
	lines := len(tb.sampleOrder(0).Products)
	tailStart := time.Now()
	if err := waitArrivals(ctx, tb, arr, len(placed), lines); err != nil {
		return res, fmt.Errorf("latency: %w", err)
	}
	res.tail = time.Since(tailStart)

	ids := make([]string, len(placed))
	for i, p := range placed {
		ids[i] = p.id
	}
	correlations, err := tb.findOrders(ctx, ids)
	if err != nil {
		return res, fmt.Errorf("latency: %w", err)
	}
	var notified, inventoried []time.Duration
	for _, p := range placed {
		if t, ok := arr.notifiedAt(p.id); ok {
			notified = append(notified, t.Sub(p.sentAt))
		}
		if t, ok := arr.updatedAt(correlations[p.id], lines); ok {
			inventoried = append(inventoried, t.Sub(p.sentAt))
		}
	}
	res.notified, res.inventoried = summarize(notified), summarize(inventoried)
	return res, nil
}

// startShop starts the four services with JSON logs, notification-service's
// and logging-service's read into arr, and returns order-service.
func (tb *testbed) startShop(ctx context.Context, arr *arrivals) (*service, error) {
	readers := map[string]lineFunc{
		contracts.ServiceNotification: arr.notificationLine,
		contracts.ServiceLogging:      arr.loggingLine,
	}
	for _, name := range consumers {
		if _, err := tb.startService(ctx, name, "json", readers[name]); err != nil {
			return nil, err
		}
	}
	return tb.startService(ctx, contracts.ServiceOrder, "json", nil)
}

// paceOrders posts orders at rate per second for d and returns the accepted
// ones. The n-th POST is due n/rate seconds after the start; a due POST
// finding all latencyClients busy is skipped.
func paceOrders(ctx context.Context, api *orderAPI, rate int, d time.Duration) ([]placedOrder, loadStats) {
	stats := loadStats{clients: latencyClients}
	var (
		mu     sync.Mutex
		placed []placedOrder
		wg     sync.WaitGroup
	)
	busy := make(chan struct{}, latencyClients)
	send := func() {
		defer func() { <-busy }()
		sentAt := time.Now()
		id, err := api.place(ctx)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			stats.failed++
			return
		}
		placed = append(placed, placedOrder{id: id, sentAt: sentAt})
	}

	ticker := time.NewTicker(time.Millisecond)
	defer ticker.Stop()
	start := time.Now()
	issued := 0
	for ctx.Err() == nil {
		elapsed := time.Since(start)
		if elapsed >= d {
			break
		}
		for due := int(elapsed.Seconds()*float64(rate)) + 1; issued < due; issued++ {
			select {
			case busy <- struct{}{}:
				stats.sent++
				wg.Go(send)
			default:
				stats.skipped++
			}
		}
		select {
		case <-ticker.C:
		case <-ctx.Done():
		}
	}
	wg.Wait()
	stats.elapsed = time.Since(start)
	stats.accepted = len(placed)
	return placed, stats
}

// waitArrivals waits, at most tailTimeout, until notification-service has
// congratulated want orders and logging-service has logged lines
// inventory-updated actions for want correlation ids. What has not arrived
// by then is reported as missing in the result, not as an error.
func waitArrivals(ctx context.Context, tb *testbed, arr *arrivals, want, lines int) error {
	deadline := time.Now().Add(tailTimeout)
	for time.Now().Before(deadline) {
		if notified, updated := arr.counts(lines); notified >= want && updated >= want {
			return nil
		}
		if err := tb.checkRunning(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(pollInterval):
		}
	}
	return nil
}
