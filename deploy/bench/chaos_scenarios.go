package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// Bounds of the chaos scenarios.
const (
	// giveUp is how long a client keeps retrying an order.
	giveUp = 2 * time.Minute
	// chaosShutdownTimeout is the services' SHUTDOWN_TIMEOUT in the shutdown
	// scenario, which each must stop within.
	chaosShutdownTimeout = 10 * time.Second
	// goroutineSlack is how many more goroutines a service may have after
	// the outage than before it without counting as a leak: connections
	// the clients opened again, idle HTTP keep-alives.
	goroutineSlack = 25
)

// settleTimeout bounds the wait for the services to finish what a
// scenario gave them.
func (r *chaosRun) settleTimeout() time.Duration {
	return time.Minute + time.Duration(r.opts.orders)*2*time.Millisecond
}

// scenario sets up a testbed and the shop for one scenario and returns
// them with a function that stops both.
func (r *chaosRun) scenario(ctx context.Context, name string, env ...string) (*shop, func() error, error) {
	tb, err := newTestbed(ctx, r.benchOptions(), name)
	if err != nil {
		return nil, nil, err
	}
	s, err := startChaosShop(ctx, tb, env...)
	if err != nil {
		return nil, nil, errors.Join(err, tb.close())
	}
	return s, tb.close, nil
}

// finish waits for the shop to settle on the accepted orders ids and counts
// the scenario's row.
func (r *chaosRun) finish(ctx context.Context, s *shop, o *outcome, ids []string) error {
	if err := s.settle(ctx, ids, r.settleTimeout()); err != nil {
		return err
	}
	p, err := s.readPublished(ctx)
	if err != nil {
		return err
	}
	s.account(o, p, ids)
	o.deadLettered = len(p.deadLetters)
	if o.deadLettered > 0 {
		o.fail("%d records dead-lettered, none expected", o.deadLettered)
	}
	extra := 0
	for _, id := range ids {
		extra += max(0, p.orders[id]-1)
	}
	if extra > 0 {
		o.note("%d orders were on new-order-topic more than once (a client retried after a lost answer)", extra)
	}
	return nil
}

// sleepUntil waits until t or the end of ctx.
func sleepUntil(ctx context.Context, t time.Time) {
	select {
	case <-ctx.Done():
	case <-time.After(time.Until(t)):
	}
}

// runCrash kills each consumer service in turn with SIGKILL while orders
// flow, and starts it again at once.
func runCrash(ctx context.Context, r *chaosRun) (o outcome, err error) {
	s, stop, err := r.scenario(ctx, "crash")
	if err != nil {
		return o, err
	}
	defer func() { err = errors.Join(err, stop()) }()

	start := time.Now()
	ids, err := r.inTurn(ctx, newOrderClient(s), consumers, func(name string, at time.Duration) error {
		if err := s.kill(name); err != nil {
			return err
		}
		if err := s.start(ctx, name); err != nil {
			return fmt.Errorf("restart %s: %w", name, err)
		}
		o.note("%s killed (SIGKILL) %s in, ready again after %s", name, duration(at), duration(time.Since(start)-at))
		return nil
	})
	if err != nil {
		return o, err
	}
	err = r.finish(ctx, s, &o, ids)
	o.elapsed = time.Since(start)
	return o, err
}

// pauseFor is how long the pause scenario stops a service: past its
// consumer group's session timeout (10 s), after which the group goes on
// without it.
const pauseFor = 14 * time.Second

// runPause stops each consumer service in turn with SIGSTOP for longer
// than its session timeout while orders flow, and lets it go on. The
// inventory comes back in the middle of its transactions, fenced: nothing
// it wrote then may be read committed. Nothing may be lost, and nothing
// duplicated.
func runPause(ctx context.Context, r *chaosRun) (o outcome, err error) {
	s, stop, err := r.scenario(ctx, "pause")
	if err != nil {
		return o, err
	}
	defer func() { err = errors.Join(err, stop()) }()

	start := time.Now()
	ids, err := r.inTurn(ctx, newOrderClient(s), consumers, func(name string, at time.Duration) error {
		if err := s.pause(name, pauseFor); err != nil {
			return err
		}
		o.note("%s paused (SIGSTOP) %s in for %s", name, duration(at), duration(pauseFor))
		return nil
	})
	if err != nil {
		return o, err
	}
	err = r.finish(ctx, s, &o, ids)
	o.elapsed = time.Since(start)
	if o.duplicated > 0 {
		o.fail("%d records handled again or published twice after a pause", o.duplicated)
	}
	return o, err
}

// inTurn places the run's orders and, while they flow, disturbs each of
// services in turn, at even intervals (at is how long after the start); it
// returns the orders accepted once all are placed.
func (r *chaosRun) inTurn(ctx context.Context, client *orderClient, services []string,
	disturb func(name string, at time.Duration) error) ([]string, error) {
	start := time.Now()
	placed := make(chan []string, 1)
	go func() { placed <- client.placeAll(ctx, r.opts.orders, r.opts.rate, giveUp) }()
	for i, name := range services {
		sleepUntil(ctx, start.Add(r.flow()*time.Duration(i+1)/time.Duration(len(services)+1)))
		if err := disturb(name, time.Since(start)); err != nil {
			return nil, err
		}
	}
	return <-placed, nil
}

// runRetry places every order twice with the same orderId, as a client
// does that got no answer to the first POST.
func runRetry(ctx context.Context, r *chaosRun) (o outcome, err error) {
	s, stop, err := r.scenario(ctx, "retry")
	if err != nil {
		return o, err
	}
	defer func() { err = errors.Join(err, stop()) }()

	client := newOrderClient(s)
	client.repeat = true
	start := time.Now()
	ids := client.placeAll(ctx, r.opts.orders, r.opts.rate, giveUp)
	err = r.finish(ctx, s, &o, ids)
	o.elapsed = time.Since(start)
	twice := 0
	client.mu.Lock()
	for _, n := range client.accepted {
		if n > 1 {
			twice++
		}
	}
	client.mu.Unlock()
	o.note("%d of %d orders accepted twice under the same orderId", twice, len(ids))
	if o.duplicated > 0 {
		o.fail("%d repeated congratulations or stock updates: a retry was applied twice", o.duplicated)
	}
	return o, err
}

// runShutdown stops each service in turn with SIGTERM while orders flow,
// checks that it exits 0 within its SHUTDOWN_TIMEOUT, and starts it again.
func runShutdown(ctx context.Context, r *chaosRun) (o outcome, err error) {
	s, stop, err := r.scenario(ctx, "shutdown", "SHUTDOWN_TIMEOUT="+chaosShutdownTimeout.String())
	if err != nil {
		return o, err
	}
	defer func() { err = errors.Join(err, stop()) }()

	start := time.Now()
	services := append(slices.Clone(consumers), contracts.ServiceOrder)
	ids, err := r.inTurn(ctx, newOrderClient(s), services, func(name string, _ time.Duration) error {
		took, err := s.terminate(name, chaosShutdownTimeout+5*time.Second)
		switch {
		case err != nil:
			o.fail("%s on SIGTERM: %v", name, err)
		case took > chaosShutdownTimeout:
			o.fail("%s took %s to stop, over its SHUTDOWN_TIMEOUT of %s", name, duration(took), chaosShutdownTimeout)
		default:
			o.note("%s exited 0 %s after SIGTERM", name, duration(took))
		}
		if err := s.start(ctx, name); err != nil {
			return fmt.Errorf("restart %s: %w", name, err)
		}
		return nil
	})
	if err != nil {
		return o, err
	}
	err = r.finish(ctx, s, &o, ids)
	o.elapsed = time.Since(start)
	if o.duplicated > 0 {
		o.fail("%d records handled again after a graceful restart: offsets were not all committed", o.duplicated)
	}
	return o, err
}

// runOutage stops the broker while orders flow and brings it back: the
// services must follow it without a restart, answering 503 while it is
// down, and lose nothing.
func runOutage(ctx context.Context, r *chaosRun) (o outcome, err error) {
	// A short publish timeout, so that order-service answers 503 well
	// within the outage.
	s, stop, err := r.scenario(ctx, "outage", "PPROF=true", "PUBLISH_TIMEOUT=2s")
	if err != nil {
		return o, err
	}
	defer func() { err = errors.Join(err, stop()) }()

	client := newOrderClient(s)
	// A few orders first, so that every connection the shop keeps is open
	// when the goroutines are counted.
	warm := client.placeAll(ctx, 20, 100, giveUp)
	if err := s.settle(ctx, warm, r.settleTimeout()); err != nil {
		return o, err
	}
	// The harness's idle connections each hold a goroutine or two in
	// order-service: close them before both counts.
	client.http.CloseIdleConnections()
	sleepUntil(ctx, time.Now().Add(500*time.Millisecond))
	before, err := s.goroutines(ctx)
	if err != nil {
		return o, err
	}

	start := time.Now()
	placed := make(chan []string, 1)
	go func() { placed <- client.placeAll(ctx, r.opts.orders, r.opts.rate, giveUp) }()
	sleepUntil(ctx, start.Add(r.flow()/4))
	downAt := time.Now()
	if err := r.broker.down(ctx); err != nil {
		return o, err
	}
	r.say("outage: broker down")
	notReady := waitReadiness(ctx, s, func(code int) bool { return code != http.StatusOK }, downAt.Add(r.opts.outage))
	sleepUntil(ctx, downAt.Add(r.opts.outage))
	upAt := time.Now()
	if err := r.broker.up(ctx); err != nil {
		return o, err
	}
	backAt := time.Now()
	r.say("outage: broker back after %s", duration(backAt.Sub(downAt)))
	ready := waitReadiness(ctx, s, func(code int) bool { return code == http.StatusOK }, backAt.Add(time.Minute))
	ids := <-placed
	err = r.finish(ctx, s, &o, append(warm, ids...))
	o.elapsed = time.Since(start)
	if err != nil {
		return o, err
	}

	o.note("broker down %s (from stop until it served again)", duration(backAt.Sub(downAt)))
	for _, name := range slices.Sorted(maps.Keys(s.svc)) {
		switch {
		case notReady[name] == 0:
			o.fail("%s: /readyz kept answering 200 while the broker was down", name)
		case ready[name] == 0:
			o.fail("%s: /readyz did not answer 200 within a minute of the broker's return", name)
		default:
			o.note("%s: /readyz not ready %s after the stop, ready %s after the return", name,
				duration(notReady[name]), duration(ready[name]))
		}
	}
	// The broker may take writes before it answers the harness's own check
	// (kafka.sh start waits for an admin request): after counts from the
	// moment it was started again.
	during := client.answersBetween(downAt.Add(2*time.Second), upAt)
	after := client.answersBetween(upAt, time.Now())
	o.note("POST /orders while down: %s; after: %s", statusCounts(during), statusCounts(after))
	if during[http.StatusServiceUnavailable] == 0 || during[http.StatusAccepted] > 0 {
		o.fail("order-service did not answer 503, and only 503, while the broker was down: %s", statusCounts(during))
	}
	if after[http.StatusAccepted] == 0 {
		o.fail("order-service did not answer 202 after the broker came back")
	} else if first, last := client.settledAfter(backAt); first >= 0 {
		o.note("after the return: the first 202 in %s, the last 503 or no answer in %s (the orders that waited, retried at once)",
			duration(first), duration(last))
	} else {
		o.note("every order was accepted before the broker answered the harness again")
	}

	// Let connections the outage left idle close before counting again.
	client.http.CloseIdleConnections()
	sleepUntil(ctx, time.Now().Add(3*time.Second))
	afterCount, err := s.goroutines(ctx)
	if err != nil {
		return o, err
	}
	var counts []string
	for _, name := range slices.Sorted(maps.Keys(before)) {
		counts = append(counts, fmt.Sprintf("%s %d→%d", name, before[name], afterCount[name]))
		if afterCount[name] > before[name]+goroutineSlack {
			o.fail("%s: %d goroutines after the outage, %d before", name, afterCount[name], before[name])
		}
	}
	o.note("goroutines before→after: %s", strings.Join(counts, ", "))
	return o, nil
}

// waitReadiness polls every service's /readyz until each has answered as
// want says once, or until deadline, and returns when each first did,
// counted from the call; a service that never did is missing.
func waitReadiness(ctx context.Context, s *shop, want func(code int) bool, deadline time.Time) map[string]time.Duration {
	start := time.Now()
	seen := map[string]time.Duration{}
	for len(seen) < len(s.svc) && time.Now().Before(deadline) && ctx.Err() == nil {
		for name, code := range s.ready(ctx) {
			if _, ok := seen[name]; !ok && want(code) {
				seen[name] = time.Since(start)
			}
		}
		sleepUntil(ctx, time.Now().Add(200*time.Millisecond))
	}
	return seen
}

// statusCounts writes answers by status, 0 being no answer.
func statusCounts(counts map[int]int) string {
	if len(counts) == 0 {
		return "none"
	}
	var parts []string
	for _, code := range slices.Sorted(maps.Keys(counts)) {
		name := fmt.Sprint(code)
		if code == 0 {
			name = "no answer"
		}
		parts = append(parts, fmt.Sprintf("%d × %s", counts[code], name))
	}
	return strings.Join(parts, ", ")
}
