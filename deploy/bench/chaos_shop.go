package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// shop is the four services of one chaos scenario, running on a testbed:
// their JSON log lines are read into a tally, and order-service is reached
// through whichever address its latest process listens on.
type shop struct {
	tb    *testbed
	tally *tally
	env   []string // extra settings for every service
	svc   map[string]*service
	order atomic.Pointer[string] // order-service's HTTP address
}

// startChaosShop starts the four services, with env added to their
// settings, and waits until each is ready.
func startChaosShop(ctx context.Context, tb *testbed, env ...string) (*shop, error) {
	s := &shop{tb: tb, tally: newTally(), env: env, svc: map[string]*service{}}
	for _, name := range append(slices.Clone(consumers), contracts.ServiceOrder) {
		if err := s.start(ctx, name); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// start runs the named service and waits until it is ready.
func (s *shop) start(ctx context.Context, name string) error {
	var onLine lineFunc
	switch name {
	case contracts.ServiceNotification:
		onLine = s.tally.notificationLine
	case contracts.ServiceLogging:
		onLine = s.tally.loggingLine
	}
	p, err := s.tb.startService(ctx, name, "json", onLine, s.env...)
	if err != nil {
		return err
	}
	s.svc[name] = p
	if name == contracts.ServiceOrder {
		s.order.Store(&p.httpAddr)
	}
	return s.tb.waitReady(ctx, p)
}

// kill ends the named service with SIGKILL, as a crash or an OOM kill does.
func (s *shop) kill(name string) error {
	p := s.svc[name]
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
	s.tb.forget(p.process)
	return nil
}

// pause stops the named service with SIGSTOP for d and lets it go on with
// SIGCONT, as a long GC pause, a stopped VM or a network partition does.
func (s *shop) pause(name string, d time.Duration) error {
	p := s.svc[name]
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	time.Sleep(d)
	if err := p.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		return fmt.Errorf("continue %s: %w", name, err)
	}
	return nil
}

// terminate sends the named service SIGTERM and waits for it to exit,
// returning how long that took and an error unless it exited with status 0
// within grace.
func (s *shop) terminate(name string, grace time.Duration) (time.Duration, error) {
	p := s.svc[name]
	start := time.Now()
	err := p.stop(grace)
	s.tb.forget(p.process)
	return time.Since(start), err
}

// goroutines returns each running service's goroutine count, read from
// /debug/pprof/goroutine (the services run with PPROF=true).
func (s *shop) goroutines(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	client := &http.Client{Timeout: 5 * time.Second}
	for name, p := range s.svc {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.httpAddr+"/debug/pprof/goroutine?debug=1", nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("goroutines of %s: %w", name, err)
		}
		first, err := io.ReadAll(io.LimitReader(resp.Body, 200))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("goroutines of %s: %w", name, err)
		}
		// The profile starts "goroutine profile: total N".
		line, _, _ := strings.Cut(string(first), "\n")
		n, err := strconv.Atoi(strings.TrimPrefix(line, "goroutine profile: total "))
		if err != nil {
			return nil, fmt.Errorf("goroutines of %s: unexpected profile %q", name, line)
		}
		counts[name] = n
	}
	return counts, nil
}

// ready returns the status of each running service's GET /readyz; 0 for no
// answer.
func (s *shop) ready(ctx context.Context) map[string]int {
	codes := map[string]int{}
	client := &http.Client{Timeout: 2 * time.Second}
	for name, p := range s.svc {
		codes[name] = 0
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+p.httpAddr+"/readyz", nil)
		if err != nil {
			continue
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			codes[name] = resp.StatusCode
		}
	}
	return codes
}

// tally counts, from the services' log lines, every congratulation per order
// id, every staff refill notice per product, and every action logged per
// event id. It is safe for concurrent use.
type tally struct {
	mu       sync.Mutex
	congrats map[string]int
	refills  map[string]int
	logged   map[string]int
}

func newTally() *tally {
	return &tally{congrats: map[string]int{}, refills: map[string]int{}, logged: map[string]int{}}
}

// chaosLine is what the harness reads from a JSON log line.
type chaosLine struct {
	Kind      string `json:"kind"`
	OrderID   string `json:"order_id"`
	ProductID string `json:"product_id"`
	Action    string `json:"action"`
	EventID   string `json:"event_id"`
}

func (t *tally) notificationLine(b []byte) {
	if !bytes.Contains(b, []byte(`"kind"`)) {
		return
	}
	var l chaosLine
	if json.Unmarshal(b, &l) != nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case l.Kind == kindOrderApproved && l.OrderID != "":
		t.congrats[l.OrderID]++
	case l.Kind == "refill-needed" && l.ProductID != "":
		t.refills[l.ProductID]++
	}
}

func (t *tally) loggingLine(b []byte) {
	if !bytes.Contains(b, []byte(`"event_id"`)) {
		return
	}
	var l chaosLine
	if json.Unmarshal(b, &l) != nil || l.Action == "" || l.EventID == "" {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.logged[l.EventID]++
}

// congratulated returns how many of ids have been congratulated.
func (t *tally) congratulated(ids []string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, id := range ids {
		if t.congrats[id] > 0 {
			n++
		}
	}
	return n
}

// answer is one POST's outcome: its HTTP status, or 0 when none came.
type answer struct {
	at     time.Time
	status int
}

// orderClient places orders on the shop as a careful client does: with its
// own orderId, retrying the same orderId after a 503 or no answer until it
// gets a 202.
type orderClient struct {
	shop   *shop
	http   *http.Client
	sample contracts.Order
	// repeat posts each order once more after it is accepted, as a client
	// does that never saw the first answer.
	repeat bool

	mu       sync.Mutex
	answers  []answer
	accepted map[string]int // order id → 202 answers
}

func newOrderClient(s *shop) *orderClient {
	return &orderClient{
		shop: s,
		http: &http.Client{
			Transport: &http.Transport{MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second},
			Timeout:   30 * time.Second,
		},
		sample:   s.tb.sampleOrder(0),
		accepted: map[string]int{},
	}
}

// orderID is the run's i-th order id.
func (c *orderClient) orderID(i int) string { return fmt.Sprintf("ORDER-%s-%d", c.shop.tb.run, i) }

// post sends order id once and reports its status, 0 for no answer.
func (c *orderClient) post(ctx context.Context, id string) int {
	o := c.sample
	o.OrderID = id
	body, _ := json.Marshal(o) // cannot fail: strings and numbers
	addr := *c.shop.order.Load()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/orders", bytes.NewReader(body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", "application/json")
	status := 0
	if resp, err := c.http.Do(req); err == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		status = resp.StatusCode
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.answers = append(c.answers, answer{at: time.Now(), status: status})
	if status == http.StatusAccepted {
		c.accepted[id]++
	}
	return status
}

// place posts order id until it is accepted, waiting longer after each
// refusal (up to 2 s, jittered), and reports whether it was before giving up.
func (c *orderClient) place(ctx context.Context, id string, giveUp time.Time) bool {
	wait := 100 * time.Millisecond
	for {
		if c.post(ctx, id) == http.StatusAccepted {
			if c.repeat {
				c.post(ctx, id)
			}
			return true
		}
		if time.Now().After(giveUp) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(wait/2 + rand.N(wait)):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// placeAll places n orders, ids 0 to n-1, at rate per second (a new order
// is due every 1/rate s, however long earlier ones take), each retried
// until accepted, and returns the ids of those accepted.
func (c *orderClient) placeAll(ctx context.Context, n, rate int, giveUp time.Duration) []string {
	var wg sync.WaitGroup
	ok := make([]bool, n)
	deadline := time.Now().Add(time.Duration(n)*time.Second/time.Duration(rate) + giveUp)
	start := time.Now()
	for i := range n {
		due := start.Add(time.Duration(i) * time.Second / time.Duration(rate))
		select {
		case <-ctx.Done():
		case <-time.After(time.Until(due)):
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() { ok[i] = c.place(ctx, c.orderID(i), deadline) })
	}
	wg.Wait()
	var ids []string
	for i, accepted := range ok {
		if accepted {
			ids = append(ids, c.orderID(i))
		}
	}
	return ids
}

// answersBetween counts the answers of each status received in [from, to).
func (c *orderClient) answersBetween(from, to time.Time) map[int]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts := map[int]int{}
	for _, a := range c.answers {
		if !a.at.Before(from) && a.at.Before(to) {
			counts[a.status]++
		}
	}
	return counts
}

// settledAfter returns how long after t the first 202 came, and the last
// answer that was not one.
func (c *orderClient) settledAfter(t time.Time) (firstAccepted, lastRefused time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	firstAccepted = -1
	for _, a := range c.answers {
		if a.at.Before(t) {
			continue
		}
		if a.status == http.StatusAccepted {
			if firstAccepted < 0 || a.at.Sub(t) < firstAccepted {
				firstAccepted = a.at.Sub(t)
			}
		} else {
			lastRefused = max(lastRefused, a.at.Sub(t))
		}
	}
	return firstAccepted, lastRefused
}

// outcome is one scenario's row of the table, and what it checked.
type outcome struct {
	scenario string
	sent     int
	// processed counts what reached every service that should handle it;
	// lost what did not. duplicated counts deliveries beyond the first: a
	// second congratulation, an action logged twice, an order's stock
	// updates published again.
	processed, lost, duplicated, deadLettered int
	elapsed                                   time.Duration
	// notes say what else was measured; failures what broke a promise.
	notes, failures []string
}

func (o *outcome) note(format string, args ...any) {
	o.notes = append(o.notes, fmt.Sprintf(format, args...))
}

func (o *outcome) fail(format string, args ...any) {
	o.failures = append(o.failures, fmt.Sprintf(format, args...))
}

// settle waits, at most timeout, until every consumer group has committed
// to the end of what it reads and every order of ids has been
// congratulated, then a little longer for the last log lines.
func (s *shop) settle(ctx context.Context, ids []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if err := s.tb.checkRunning(); err != nil {
			return err
		}
		done := s.tally.congratulated(ids) == len(ids)
		for _, name := range consumers {
			prog, err := s.tb.cluster.progress(s.tb.group(name))
			if err != nil || !prog.caughtUp() {
				done = false
				break
			}
		}
		if done {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(time.Second):
	}
	return nil
}

// published is what the run's records on the shop's topics say.
type published struct {
	// orders counts the records on new-order-topic per order id, and
	// correlation holds each order's correlation id.
	orders      map[string]int
	correlation map[string]string
	// actions holds the event ids of the logging actions per correlation
	// id, and updates counts the inventory-updated ones.
	actions map[string][]string
	updates map[string]int
	// deadLetters are the records on dead-letter-topic.
	deadLetters []*kafka.Message
}

// readPublished reads every topic of the shop from the testbed's start to
// its end.
func (s *shop) readPublished(ctx context.Context) (published, error) {
	p := published{
		orders: map[string]int{}, correlation: map[string]string{},
		actions: map[string][]string{}, updates: map[string]int{},
	}
	topics := []string{contracts.TopicNewOrder, contracts.TopicNewLoggingAction, kafka.DefaultDeadLetterTopic}
	ends, err := s.tb.cluster.endOffsets(topics)
	if err != nil {
		return p, err
	}
	read := func(topic string, fn func(*kafka.Message)) error {
		return s.tb.cluster.scan(ctx, topic, s.tb.start[topic], ends[topic], 2*time.Minute, fn)
	}
	err = errors.Join(
		read(contracts.TopicNewOrder, func(m *kafka.Message) {
			id := string(m.Key)
			p.orders[id]++
			if _, seen := p.correlation[id]; !seen {
				p.correlation[id] = m.Header(contracts.HeaderCorrelationID)
			}
		}),
		read(contracts.TopicNewLoggingAction, func(m *kafka.Message) {
			corr := m.Header(contracts.HeaderCorrelationID)
			p.actions[corr] = append(p.actions[corr], m.Header(contracts.HeaderEventID))
			if a, err := contracts.DecodeLoggingAction(m.Value); err == nil && a.Action == contracts.ActionInventoryUpdated {
				p.updates[corr]++
			}
		}),
		read(kafka.DefaultDeadLetterTopic, func(m *kafka.Message) {
			p.deadLetters = append(p.deadLetters, m)
		}),
	)
	return p, err
}

// account fills o's counts for the orders ids that were accepted: an order
// is processed once its customer was congratulated, the inventory published
// an update for each of its lines, and logging-service logged every action
// that carries its correlation id.
func (s *shop) account(o *outcome, p published, ids []string) {
	lines := len(s.tb.sampleOrder(0).Products)
	s.tally.mu.Lock()
	defer s.tally.mu.Unlock()
	o.sent += len(ids)
	var missing []string
	var againCongrats, againUpdates, againLogged int
	for _, id := range ids {
		corr := p.correlation[id]
		congrats, updates := s.tally.congrats[id], p.updates[corr]
		ok := corr != "" && congrats > 0 && updates >= lines
		againCongrats += max(0, congrats-1)
		againUpdates += max(0, updates-lines)
		for _, ev := range p.actions[corr] {
			n := s.tally.logged[ev]
			ok = ok && n > 0
			againLogged += max(0, n-1)
		}
		if ok {
			o.processed++
		} else {
			o.lost++
			if len(missing) < 3 {
				missing = append(missing, fmt.Sprintf("%s (records %d, congratulated %d, stock updates %d/%d, actions %d)",
					id, p.orders[id], congrats, updates, lines, len(p.actions[corr])))
			}
		}
	}
	o.duplicated += againCongrats + againUpdates + againLogged
	if o.duplicated > 0 {
		o.note("duplicated: %d congratulations, %d stock updates published again, %d actions logged again",
			againCongrats, againUpdates, againLogged)
	}
	if len(missing) > 0 {
		o.fail("%d orders not processed, e.g. %s", o.lost, strings.Join(missing, "; "))
	}
}
