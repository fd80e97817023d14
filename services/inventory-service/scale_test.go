package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/service/servicetest"
)

// The proofs below run several instances of the service, as processes in one
// consumer group, through a stream of orders while instances crash, join and
// leave, and compare every product's state with what a single-threaded
// inventory makes of the same orders.

const (
	// proofFullEnv, set to 1, runs the proofs at full size (make chaos).
	proofFullEnv = "INVENTORY_PROOF_FULL"
	// proofSeedEnv fixes the seed the orders are drawn with, to replay a run.
	proofSeedEnv = "INVENTORY_PROOF_SEED"
)

// The shop every proof runs: ten products, product i ordered i+1 items a
// line, all starting at 1000 items and refilled to 1000 at 100 or below.
// With some 600 lines per product the bigger sellers are refilled several
// times; the full size refills every product.
const (
	proofProducts  = 10
	proofInitial   = 1000
	proofThreshold = 100
	proofRefill    = 1000
	// publishBatch orders go in one produce.
	publishBatch = 100
)

// Log messages the proofs read from the instances' JSON logs.
const (
	msgAssigned = "partitions assigned"
	msgReleased = "partitions released"
	msgUpdated  = "inventory updated"
	msgUnknown  = "unknown product, order line not applied"
	msgRepeated = "order placed again, line skipped"
)

// TestKillOneOfThree runs three instances and, while orders flow, kills the
// one applying the most lines with SIGKILL and starts a replacement, again
// and again: each kill most likely lands inside a transaction, between its
// records and its commit. Nothing of a transaction that did not commit may
// be read, and the next owners must apply exactly what it did not.
func TestKillOneOfThree(t *testing.T) {
	t.Parallel()
	p := newProof(t)

	live := []*instance{p.start(), p.start(), p.start()}
	p.waitStable(live)
	// As fast as they go, faster than the instances apply them: whoever
	// is killed is working through a backlog, its transactions back to
	// back.
	published := p.publishAll(live, 0)

	var kills []string
	for round := range proofRounds() {
		p.waitProgress(live, 0.2+0.6*float64(round)/float64(proofRounds()))
		victim := p.applying(live)
		p.logf("killing instance %d, which owns %v", victim.n, victim.log.claims)
		kills = append(kills, p.kill(victim))
		live = slices.DeleteFunc(live, func(in *instance) bool { return in == victim })
		live = append(live, p.start())
	}

	p.waitPublished(published)
	p.check(live)
	p.report(fmt.Sprintf("%d killed with SIGKILL, at %s of the lines", len(kills), strings.Join(kills, ", ")))
}

// TestPauseOneOfThree stops an instance with SIGSTOP for longer than the
// session timeout while orders flow, as a long GC pause, a stopped VM or a
// network partition would, and lets it go on with SIGCONT once the group has
// moved on: first the instance applying the most lines, then the one owning
// the most order partitions. A paused instance comes back in the middle of
// its transactions, with state the new owners have moved past: the broker
// must fence it, so that nothing it does after is read, and it must not
// write its old state over theirs.
func TestPauseOneOfThree(t *testing.T) {
	t.Parallel()
	// Orders flow for half a minute at 400 a second, through both pauses
	// (full size: two minutes at 500 a second, through six).
	n, every := 10_000, 250*time.Millisecond
	if os.Getenv(proofFullEnv) == "1" {
		n, every = 60_000, 200*time.Millisecond
	}
	p := newProofOfSize(t, n, n/10)

	live := []*instance{p.start(), p.start(), p.start()}
	p.waitStable(live)
	published := p.publishAll(live, every)

	var pauses []string
	for round := range proofRounds() {
		p.waitProgress(live, 0.1+0.6*float64(round)/float64(proofRounds()))
		victim := p.applying(live)
		if round%2 == 1 {
			victim = p.splitting(live)
		}
		pauses = append(pauses, p.pause(victim, pauseFor))
		p.waitStable(live)
	}

	p.waitPublished(published)
	p.check(live)
	p.report(fmt.Sprintf("%d paused with SIGSTOP for %s, at %s of the lines", len(pauses), pauseFor, strings.Join(pauses, ", ")))
}

// pauseFor is how long an instance is stopped: past the session timeout
// (10s), after which the group hands its partitions to the others.
const pauseFor = 14 * time.Second

// proofRounds is how many times a proof kills or pauses an instance.
func proofRounds() int {
	if os.Getenv(proofFullEnv) == "1" {
		return 6
	}
	return 2
}

// TestScaleUpAndDown grows the group from one instance to three and shrinks
// it back to one with graceful stops while the orders are applied: every
// rebalance moves partitions, and each new owner restores their state.
func TestScaleUpAndDown(t *testing.T) {
	t.Parallel()
	p := newProof(t)

	a := p.start()
	p.waitStable([]*instance{a})
	// 500 orders a second, which the instances keep up with: each step
	// comes while lines are applied.
	published := p.publishAll([]*instance{a}, 200*time.Millisecond)

	var steps []string
	p.waitProgress([]*instance{a}, 0.1)
	steps = append(steps, "1->2 at "+p.progress())
	b := p.start()
	p.waitProgress([]*instance{a, b}, 0.2)
	steps = append(steps, "2->3 at "+p.progress())
	c := p.start()
	p.waitStable([]*instance{a, b, c})

	p.waitProgress([]*instance{a, b, c}, 0.5)
	steps = append(steps, "3->2 at "+p.progress())
	p.stop(c)
	p.waitProgress([]*instance{a, b}, 0.7)
	steps = append(steps, "2->1 at "+p.progress())
	p.stop(b)

	p.waitPublished(published)
	p.check([]*instance{a})
	p.report("no kills; " + strings.Join(steps, ", ") + " of the lines")
}

// proof is one stream of orders through a group of inventory instances, and
// what a single-threaded inventory makes of it.
type proof struct {
	t       *testing.T
	started time.Time
	kcfg    kafka.Config
	group   string
	args    []string // every instance's command line but its HTTP address

	run      string            // every order id starts with it
	products []string          // product i is ordered quantity(i) items a line
	orders   []contracts.Order // distinct orders
	sequence []int             // orders' indices in publishing order, repeats included
	repeats  int
	lines    int                     // order lines of the distinct orders
	want     map[string]productState // the single-threaded outcome

	instances []*instance // all started, in order
	// batchOut gets a value, when it has room, as each batch of orders is
	// published: pause stops an instance right after one, when it has
	// work in hand.
	batchOut chan struct{}
}

// productState is a product's entry in GET /products.
type productState struct {
	Stock   int `json:"stock"`
	Lines   int `json:"lines"`
	Refills int `json:"refills"`
}

// instance is one inventory process of the group.
type instance struct {
	*child
	n   int    // 1 for the first started
	url string // base URL of its HTTP API
	log *logScan
}

func quantity(product int) int { return product + 1 }

// proofSize returns how many distinct orders a proof publishes, and how many
// of them it publishes a second time.
func proofSize() (orders, repeats int) {
	if os.Getenv(proofFullEnv) == "1" {
		return 20_000, 1_000
	}
	return 3_000, 300
}

func newProof(t *testing.T) *proof {
	t.Helper()
	n, repeats := proofSize()
	return newProofOfSize(t, n, repeats)
}

// newProofOfSize is newProof with n distinct orders, of which repeats are
// placed twice.
func newProofOfSize(t *testing.T, n, repeats int) *proof {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv(proofSeedEnv); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("%s=%q: %v", proofSeedEnv, s, err)
		}
	}
	t.Logf("orders drawn with %s=%d", proofSeedEnv, seed)
	rng := rand.New(rand.NewPCG(seed, seed))

	p := &proof{
		t:        t,
		started:  time.Now(),
		kcfg:     kafka.DefaultConfig(kafkatest.Brokers(t)...),
		group:    kafkatest.Name(t, "inventory"),
		repeats:  repeats,
		want:     make(map[string]productState, proofProducts),
		batchOut: make(chan struct{}),
	}
	stock := make([]string, proofProducts)
	for i := range proofProducts {
		p.products = append(p.products, kafkatest.Name(t, fmt.Sprintf("P%d", i)))
		stock[i] = fmt.Sprintf("%s=%d", p.products[i], proofInitial)
	}
	p.args = []string{
		"--kafka-brokers", strings.Join(p.kcfg.Brokers, ","),
		"--consumer-group", p.group,
		"--initial-stock", strings.Join(stock, ","),
		"--refill-threshold", strconv.Itoa(proofThreshold),
		"--refill-level", strconv.Itoa(proofRefill),
		"--log-format", "json",
		"--log-level", "debug", // each applied line is logged at debug
	}

	// Orders of one to three lines over distinct products.
	p.run = kafkatest.Name(t, "ORDER")
	linesOf := make([]int, proofProducts)
	for k := range n {
		order := contracts.Order{OrderID: fmt.Sprintf("%s-%d", p.run, k), CustomerID: "CUSTOMER-" + strconv.Itoa(k%97)}
		for _, i := range rng.Perm(proofProducts)[:1+rng.IntN(3)] {
			order.Products = append(order.Products, contracts.OrderLine{
				ProductID: p.products[i], Quantity: quantity(i), TotalPrice: float64(10 * quantity(i)),
			})
			linesOf[i]++
			p.lines++
		}
		p.orders = append(p.orders, order)
	}
	// Each repeat follows its original somewhere later in the stream, some
	// right behind it, some far off, across rebalances.
	after := make([][]int, n)
	for range repeats {
		first := rng.IntN(n)
		at := first + rng.IntN(n-first)
		after[at] = append(after[at], first)
	}
	for k := range n {
		p.sequence = append(p.sequence, k)
		p.sequence = append(p.sequence, after[k]...)
	}

	// The tutorial's rule, one line after another. A product's lines all
	// take the same quantity, so the outcome depends only on their number.
	refills := 0
	for i, id := range p.products {
		s := productState{Stock: proofInitial, Lines: linesOf[i]}
		for range linesOf[i] {
			if s.Stock -= quantity(i); s.Stock <= proofThreshold {
				s.Refills++
				s.Stock = proofRefill
			}
		}
		p.want[id] = s
		refills += s.Refills
	}
	if refills == 0 {
		t.Fatal("the proof's sizes refill no product: the refill rule would go unchecked")
	}
	return p
}

func (p *proof) logf(format string, args ...any) {
	p.t.Helper()
	p.t.Logf("%6.2fs "+format, append([]any{time.Since(p.started).Seconds()}, args...)...)
}

// start starts one more instance.
func (p *proof) start() *instance {
	p.t.Helper()
	addr := servicetest.FreeAddr(p.t)
	in := &instance{n: len(p.instances) + 1, url: "http://" + addr}
	in.child = startService(p.t, append(slices.Clone(p.args), "--http-addr", addr)...)
	in.log = &logScan{path: in.logPath, marker: []byte(p.run + "-"), counts: map[string]int{}, ours: map[string]int{}}
	p.instances = append(p.instances, in)
	p.logf("started instance %d", in.n)
	return in
}

// kill kills in as a crash would, reporting how far the lines were applied
// then.
func (p *proof) kill(in *instance) string {
	p.t.Helper()
	at := p.progress()
	if err := in.cmd.Process.Kill(); err != nil {
		p.t.Fatalf("kill instance %d: %v", in.n, err)
	}
	select {
	case <-in.exited:
	case <-time.After(10 * time.Second):
		p.t.Fatalf("instance %d still running 10s after SIGKILL", in.n)
	}
	p.logf("killed instance %d at %s of the lines", in.n, at)
	return at
}

// pause stops in with SIGSTOP for d and lets it go on with SIGCONT,
// reporting how far the lines were applied when it stopped.
func (p *proof) pause(in *instance, d time.Duration) string {
	p.t.Helper()
	at := p.progress()
	p.logf("pausing instance %d, which owns %v, for %s", in.n, in.log.claims, d)
	// Right after a batch of orders goes out, while the instances split
	// and apply it: most likely inside a transaction.
	select {
	case <-p.batchOut:
		time.Sleep(time.Duration(rand.IntN(5)) * time.Millisecond)
	case <-time.After(5 * time.Second):
	}
	if err := in.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatalf("stop instance %d: %v", in.n, err)
	}
	time.Sleep(d)
	if err := in.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		p.t.Fatalf("continue instance %d: %v", in.n, err)
	}
	p.logf("instance %d goes on, at %s of the lines", in.n, p.progress())
	return at
}

// splitting returns the instance of live that owns the most partitions of
// new-order-topic.
func (p *proof) splitting(live []*instance) *instance {
	p.t.Helper()
	var best *instance
	for _, in := range live {
		in.log.scan(p.t)
		if best == nil || len(in.log.claims[contracts.TopicNewOrder]) > len(best.log.claims[contracts.TopicNewOrder]) {
			best = in
		}
	}
	return best
}

// stop stops in gracefully, as an operator scaling down would.
func (p *proof) stop(in *instance) {
	p.t.Helper()
	in.stop(p.t)
	p.logf("stopped instance %d", in.n)
}

// publishAll publishes the orders: the first batch at once, waiting until
// live have applied it, then the rest in the background, a batch every
// interval (or as fast as they go with 0). The outcome of the background
// part comes on the channel.
//
// An order placed for the first time is keyed by its id, on the partition
// that key has, as order-service writes it. An order placed again comes
// without a key, as the tutorial's producer sends it, on another partition.
// Some records are stamped far in the future and some in 1970, as a
// producer with a wrong clock stamps them.
//
// Waiting for the first batch lets a new group catch up with what
// new-order-topic held before: on a shared cluster, other runs' orders,
// which it splits too before ours (their products are unknown here).
func (p *proof) publishAll(live []*instance, every time.Duration) <-chan error {
	p.t.Helper()
	pub := p.newOrderPublisher()
	ctx, cancel := context.WithCancel(context.Background())
	p.t.Cleanup(cancel)

	if err := pub.publish(ctx, 0); err != nil {
		p.t.Fatal(err)
	}
	first, seen := 0, map[int]bool{}
	for _, k := range p.sequence[:publishBatch] {
		if !seen[k] {
			seen[k] = true
			first += len(p.orders[k].Products)
		}
	}
	p.poll("the first orders applied", live, func() (bool, string) {
		n := p.applied()
		return n >= first, fmt.Sprintf("%d of their %d lines applied, %d lines of other orders skipped", n, first, p.unknown())
	})
	p.logf("the first %d orders applied, %d lines of other orders skipped", publishBatch, p.unknown())

	done := make(chan error, 1)
	go func() {
		var tick <-chan time.Time
		if every > 0 {
			t := time.NewTicker(every)
			defer t.Stop()
			tick = t.C
		}
		for start := publishBatch; start < len(p.sequence); start += publishBatch {
			if tick != nil {
				select {
				case <-ctx.Done():
					done <- ctx.Err()
					return
				case <-tick:
				}
			}
			if err := pub.publish(ctx, start); err != nil {
				done <- err
				return
			}
			select {
			case p.batchOut <- struct{}{}:
			default:
			}
		}
		done <- nil
	}()
	return done
}

// orderPublisher publishes the proof's orders with a sarama producer of
// its own, which lets it choose each record's key, partition and
// timestamp.
type orderPublisher struct {
	p          *proof
	producer   sarama.SyncProducer
	events     *eventbus.Publisher
	partitions int32
	future     time.Time // as far ahead as the broker takes a timestamp
	placed     map[int]int32
	rng        *rand.Rand
}

func (p *proof) newOrderPublisher() *orderPublisher {
	p.t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	producer, err := sarama.NewSyncProducer(p.kcfg.Brokers, sc)
	if err != nil {
		p.t.Fatalf("producer: %v", err)
	}
	p.t.Cleanup(func() { _ = producer.Close() })
	reader, err := kafka.NewReader(p.kcfg)
	if err != nil {
		p.t.Fatal(err)
	}
	defer func() { _ = reader.Close() }()
	n, err := reader.Partitions(contracts.TopicNewOrder)
	if err != nil || n < 2 {
		p.t.Fatalf("%s has %d partitions (%v): the proof places orders again on another partition", contracts.TopicNewOrder, n, err)
	}
	pub := &orderPublisher{p: p, producer: producer, partitions: int32(n), //nolint:gosec // a partition count
		events: eventbus.NewPublisher(discard{}, "test"), placed: map[int]int32{}, rng: rand.New(rand.NewPCG(1, 2))}
	pub.future = pub.furthestTimestamp()
	return pub
}

// furthestTimestamp returns 2100-01-01, or, if the broker refuses records
// that far ahead (Apache Kafka takes an hour ahead by default), a time 59
// minutes from now. It asks on a topic of the proof's own.
func (o *orderPublisher) furthestTimestamp() time.Time {
	topic := kafkatest.Topic(o.p.t, o.p.kcfg, "clock", 1)
	future := time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC)
	_, _, err := o.producer.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder("x"), Timestamp: future})
	if errors.Is(err, sarama.ErrInvalidTimestamp) {
		future = time.Now().Add(59 * time.Minute)
		o.p.logf("the broker refuses records stamped in 2100: the proof stamps some %s instead", future.Format(time.RFC3339))
	} else if err != nil {
		o.p.t.Fatalf("probe the broker's timestamps: %v", err)
	}
	return future
}

// publish publishes the batch of the sequence that begins at start.
func (o *orderPublisher) publish(ctx context.Context, start int) error {
	ctx = correlation.With(ctx, fmt.Sprintf("%s-%d", o.p.run, start))
	var msgs []*sarama.ProducerMessage
	for i, k := range o.p.sequence[start:min(start+publishBatch, len(o.p.sequence))] {
		recs, err := o.events.Records(ctx, o.p.orders[k])
		if err != nil {
			return err
		}
		msg := &sarama.ProducerMessage{Topic: recs[0].Topic, Value: sarama.ByteEncoder(recs[0].Value)}
		for name, v := range recs[0].Headers {
			msg.Headers = append(msg.Headers, sarama.RecordHeader{Key: []byte(name), Value: []byte(v)})
		}
		if home, again := o.placed[k]; again {
			msg.Partition = (home + 1 + o.rng.Int32N(o.partitions-1)) % o.partitions
		} else {
			msg.Key = sarama.ByteEncoder(recs[0].Key)
			msg.Partition = kafka.KeyPartition(recs[0].Key, o.partitions)
			o.placed[k] = msg.Partition
		}
		switch (start + i) % 50 {
		case 7:
			msg.Timestamp = o.future
		case 32:
			msg.Timestamp = time.Unix(1, 0)
		}
		msgs = append(msgs, msg)
	}
	if err := o.producer.SendMessages(msgs); err != nil {
		return fmt.Errorf("publish orders %d and on: %w", start, err)
	}
	return nil
}

// discard is a kafka.Publisher that publishes nothing: the proof's
// eventbus.Publisher only makes records.
type discard struct{}

func (discard) Publish(context.Context, ...kafka.Record) error { return nil }

// waitPublished waits for the background part of publishAll.
func (p *proof) waitPublished(published <-chan error) {
	p.t.Helper()
	if err := <-published; err != nil {
		p.t.Fatal(err)
	}
	p.logf("all %d orders published, %d of them placed again", len(p.sequence), p.repeats)
}

// drainTimeout bounds every wait for the instances to make progress.
func drainTimeout() time.Duration {
	if os.Getenv(proofFullEnv) == "1" {
		return 10 * time.Minute
	}
	return 2 * time.Minute
}

// stallAfter is how long a wait goes on without any change in what it
// watches. It is well above the session timeout (10s) after which a killed
// instance's partitions move on, so a lost line fails the test after this
// rather than after drainTimeout.
const stallAfter = 30 * time.Second

// poll calls cond every 100ms until it reports done, failing the test if one
// of live exits, if the state cond reports stays the same for stallAfter, or
// if drainTimeout passes.
func (p *proof) poll(what string, live []*instance, cond func() (done bool, state string)) {
	p.t.Helper()
	deadline := time.Now().Add(drainTimeout())
	changed, last := time.Now(), ""
	for {
		done, state := cond()
		if done {
			return
		}
		if state != last {
			changed, last = time.Now(), state
		}
		for _, in := range live {
			select {
			case <-in.exited:
				p.t.Fatalf("%s: instance %d exited: %v", what, in.n, in.err)
			default:
			}
		}
		switch {
		case time.Since(changed) > stallAfter:
			p.t.Fatalf("%s: no change for %s: %s", what, stallAfter, state)
		case time.Now().After(deadline):
			p.t.Fatalf("%s: not within %s: %s", what, drainTimeout(), state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitStable waits until live are the whole group: each of them has joined
// the same generation and holds its partitions.
func (p *proof) waitStable(live []*instance) {
	p.t.Helper()
	p.poll("group of instances "+names(live), live, func() (bool, string) {
		var gens []string
		stable := true
		for _, in := range live {
			in.log.scan(p.t)
			if !in.log.assigned {
				gens = append(gens, fmt.Sprintf("%d: between generations", in.n))
			} else {
				gens = append(gens, fmt.Sprintf("%d: generation %d", in.n, in.log.generation))
			}
			stable = stable && in.log.assigned && in.log.generation == live[0].log.generation
		}
		return stable, strings.Join(gens, ", ")
	})
	p.logf("group of instances %s stable in generation %d", names(live), live[0].log.generation)
}

func names(live []*instance) string {
	var s []string
	for _, in := range live {
		s = append(s, strconv.Itoa(in.n))
	}
	return strings.Join(s, ",")
}

// waitProgress waits until at least frac of the lines are applied; live are
// the instances running. Progress is counted in the instances' logs, which
// tell when a line is applied, rather than in GET /products, whose view
// trails the instances by up to a second or more on Apache Kafka. A line
// applied again after a crash counts twice: close enough to time a step.
func (p *proof) waitProgress(live []*instance, frac float64) {
	p.t.Helper()
	want := int(frac * float64(p.lines))
	p.poll(fmt.Sprintf("%.0f%% of the lines applied", 100*frac), live, func() (bool, string) {
		n := p.applied()
		return n >= want, fmt.Sprintf("%d of %d lines", n, p.lines)
	})
}

// progress returns the share of the lines applied.
func (p *proof) progress() string {
	p.t.Helper()
	return fmt.Sprintf("%.0f%%", 100*float64(p.applied())/float64(p.lines))
}

// unknown returns how many lines of other orders than the proof's the
// instances have logged as skipped: their products are not in this shop.
func (p *proof) unknown() int {
	p.t.Helper()
	n := 0
	for _, in := range p.instances {
		in.log.scan(p.t)
		n += in.log.counts[msgUnknown]
	}
	return n
}

// applied returns how many lines of the proof's orders the instances have
// logged as applied.
func (p *proof) applied() int {
	p.t.Helper()
	n := 0
	for _, in := range p.instances {
		in.log.scan(p.t)
		n += in.log.ours[msgUpdated]
	}
	return n
}

// applying returns the instance of live that applied the most lines between
// two looks at their logs, waiting for one that applied any: killed now, it
// most likely leaves lines applied whose offsets are not committed yet.
func (p *proof) applying(live []*instance) *instance {
	p.t.Helper()
	var best *instance
	before := make(map[*instance]int)
	p.poll("an instance applying lines", live, func() (bool, string) {
		best = nil
		for _, in := range live {
			in.log.scan(p.t)
			n, seen := before[in]
			before[in] = in.log.updated
			if !seen || !in.log.assigned || in.log.updated == n {
				continue
			}
			if best == nil || in.log.updated-n > best.log.updated-before[best] {
				best = in
			}
		}
		return best != nil, "none is applying lines"
	})
	return best
}

// productsOf reads GET /products from in.
func (p *proof) productsOf(in *instance) (map[string]productState, error) {
	var got map[string]productState
	return got, getJSON(p.t.Context(), in.url+"/products", &got)
}

func getJSON(ctx context.Context, url string, v any) error {
	body, err := get(ctx, &http.Client{Timeout: 2 * time.Second}, url)
	if err != nil {
		return err
	}
	if err := json.Unmarshal([]byte(body), v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// check waits until every live instance shows every distinct order line
// applied, then checks that each product's state is the single-threaded
// outcome, that a read-committed reader finds each refill announced once
// and each line logged once, that no product's state ever went backwards
// on the stock changelog, and that no line was applied late.
func (p *proof) check(live []*instance) {
	p.t.Helper()
	for _, in := range live {
		p.poll(fmt.Sprintf("instance %d showing every line applied", in.n), live, func() (bool, string) {
			got, err := p.productsOf(in)
			if err != nil {
				return false, err.Error()
			}
			for id, want := range p.want {
				if got[id].Lines < want.Lines {
					return false, "\n" + p.diff(got)
				}
			}
			return true, ""
		})
	}
	p.logf("every line applied")
	p.compare(live)
	p.checkEvents()
	p.checkChangelog()
	// A line applied twice late, after the counts were reached, shows now.
	p.compare(live)
}

// compare checks every live instance's GET /products and GET /stock against
// the single-threaded outcome.
func (p *proof) compare(live []*instance) {
	p.t.Helper()
	wantStock := make(map[string]int, len(p.want))
	for id, s := range p.want {
		wantStock[id] = s.Stock
	}
	for _, in := range live {
		got, err := p.productsOf(in)
		if err != nil {
			p.t.Fatalf("instance %d: %v", in.n, err)
		}
		if !maps.Equal(got, p.want) {
			p.t.Errorf("instance %d: GET /products differs from a single instance's outcome:\n%s", in.n, p.diff(got))
		}
		var stock map[string]int
		if err := getJSON(p.t.Context(), in.url+"/stock", &stock); err != nil {
			p.t.Fatalf("instance %d: %v", in.n, err)
		}
		if !maps.Equal(stock, wantStock) {
			var diff strings.Builder
			for i, id := range p.products {
				if g, w := stock[id], wantStock[id]; g != w {
					fmt.Fprintf(&diff, "  product %d: got %d, want %d\n", i, g, w)
				}
			}
			p.t.Errorf("instance %d: GET /stock differs from a single instance's outcome (%d products, want %d):\n%s",
				in.n, len(stock), len(wantStock), diff.String())
		}
	}
}

// diff describes the products whose state is not the expected one.
func (p *proof) diff(got map[string]productState) string {
	var b strings.Builder
	for i, id := range p.products {
		if g, w := got[id], p.want[id]; g != w {
			fmt.Fprintf(&b, "  product %d (%d items a line): got %+v, want %+v\n", i, quantity(i), g, w)
		}
	}
	if len(got) != len(p.want) {
		fmt.Fprintf(&b, "  %d products, want %d\n", len(got), len(p.want))
	}
	return b.String()
}

// checkEvents reads inventory-empty-topic and new-logging-action-topic to
// their ends, read committed, and checks that they hold exactly one
// inventory-empty record and action per refill and one inventory-updated
// action per order line of the proof's distinct orders. The GET /products
// of check said every line is applied: the transactions that applied them
// committed their events too, so they are all there to read.
func (p *proof) checkEvents() {
	p.t.Helper()
	wantEmpty := make(map[string]int, len(p.want))
	refills := 0
	for id, s := range p.want {
		wantEmpty[id] = s.Refills
		refills += s.Refills
	}
	gotEmpty := make(map[string]int, len(wantEmpty))
	for id := range wantEmpty {
		gotEmpty[id] = 0
	}
	for _, m := range kafkatest.ReadToEnd(p.t, p.kcfg, contracts.TopicInventoryEmpty, func(m *kafka.Message) bool {
		_, ours := wantEmpty[string(m.Key)]
		return ours
	}, time.Minute) {
		gotEmpty[string(m.Key)]++
	}
	if !maps.Equal(gotEmpty, wantEmpty) {
		p.t.Errorf("inventory-empty records by product, read committed: %v, want one per refill: %v", gotEmpty, wantEmpty)
	}

	gotActions := map[string]int{}
	for _, m := range kafkatest.ReadToEnd(p.t, p.kcfg, contracts.TopicNewLoggingAction, func(m *kafka.Message) bool {
		return strings.HasPrefix(m.Header(contracts.HeaderCorrelationID), p.run+"-")
	}, time.Minute) {
		a, err := contracts.DecodeLoggingAction(m.Value)
		if err != nil {
			p.t.Fatalf("logging action %s: %v", m.Value, err)
		}
		gotActions[a.Action]++
	}
	// On a shared cluster the inventories of other runs report the
	// proof's products as unknown: only these two actions are this shop's.
	for action, want := range map[string]int{contracts.ActionInventoryUpdated: p.lines, contracts.ActionInventoryEmpty: refills} {
		if gotActions[action] != want {
			p.t.Errorf("%s logging actions of the proof's orders, read committed: %d, want %d", action, gotActions[action], want)
		}
	}
	p.logf("read committed: %d inventory-empty records and %d+%d logging actions, for %d refills and %d lines",
		refills, gotActions[contracts.ActionInventoryUpdated], gotActions[contracts.ActionInventoryEmpty], refills, p.lines)
}

// checkChangelog reads the stock changelog, read committed, and checks that
// each product's states come in the order its lines were applied: a state
// written by an owner the group had left behind would count fewer lines
// than the one before it.
func (p *proof) checkChangelog() {
	p.t.Helper()
	last := map[string]productState{}
	backwards := 0
	for _, m := range kafkatest.ReadToEnd(p.t, p.kcfg, p.group+"-stock-changelog", func(*kafka.Message) bool { return true }, time.Minute) {
		var s productState
		if err := json.Unmarshal(m.Value, &s); err != nil {
			p.t.Fatalf("stock changelog %s: %v", m.Value, err)
		}
		id := string(m.Key)
		if prev, ok := last[id]; ok && s.Lines <= prev.Lines {
			if backwards++; backwards <= 5 {
				p.t.Errorf("stock changelog of %s, offset %d: %+v after %+v", id, m.Offset, s, prev)
			}
		}
		last[id] = s
	}
	if backwards > 0 {
		p.t.Errorf("%d states on the stock changelog did not follow the one before them", backwards)
	}
	for id, want := range p.want {
		if last[id] != want {
			p.t.Errorf("the last state of %s on the stock changelog is %+v, want %+v", id, last[id], want)
		}
	}
}

// report logs the proof's figures and fails the test on a data race in an
// instance. It returns how often each message about the proof's orders was
// logged, by all instances: on a shared cluster they also split other
// tests' orders.
func (p *proof) report(events string) {
	p.t.Helper()
	counts := map[string]int{}
	for _, in := range p.instances {
		in.log.scan(p.t)
		for msg, n := range in.log.ours {
			counts[msg] += n
		}
		if in.log.races > 0 {
			p.t.Errorf("instance %d reported %d data races", in.n, in.log.races)
		}
		if in.log.saramaRaces > 0 {
			p.t.Logf("instance %d met sarama's known race on a fenced producer's error %d times (github.com/IBM/sarama/issues/2913)",
				in.n, in.log.saramaRaces)
		}
	}
	refills := 0
	for _, s := range p.want {
		refills += s.Refills
	}
	// A line logged as applied in a transaction that then aborted (its
	// instance killed, fenced or failed) is applied again by the next
	// owner: the logs show it twice, the topics once.
	p.t.Logf("orders %d (%d distinct, %d placed again), %d lines over %d products, %d refills; "+
		"instances %d, %s; elapsed %s; lines skipped as placed again: %d; lines logged as applied: %d, %d more than once",
		len(p.sequence), len(p.orders), p.repeats, p.lines, len(p.products), refills,
		len(p.instances), events, time.Since(p.started).Round(time.Millisecond),
		counts[msgRepeated], counts[msgUpdated], counts[msgUpdated]-p.lines)
}

// logScan follows an instance's JSON log, keeping what the proofs need: the
// instance's current assignment and how often each message was logged.
type logScan struct {
	path   string
	offset int64
	rest   []byte // an incomplete last line

	marker []byte // in the lines about this proof's orders

	counts     map[string]int // by message
	ours       map[string]int // by message, lines about this proof's orders
	assigned   bool           // between "partitions assigned" and "released"
	generation int32
	claims     map[string][]int32
	updated    int // lines applied
	races      int
	// saramaRaces counts the races of sarama's own issue 2913, which the
	// proofs tolerate (see knownSaramaRace); race holds the lines of the
	// report being read.
	saramaRaces int
	race        [][]byte
}

// knownSaramaRace reports whether a race report is sarama's issue 2913
// (github.com/IBM/sarama/issues/2913, open in v1.61.1 and v1.62.0): when
// a produce of a fenced transactional producer fails, the error is
// written under one lock (transitionTo) while another goroutine reads it
// under another (publishTxnPartitions). The proofs fence producers on
// purpose, and meet it; every other race fails them.
func knownSaramaRace(report [][]byte) bool {
	text := bytes.Join(report, nil)
	return bytes.Contains(text, []byte("sarama.(*transactionManager).transitionTo()")) &&
		bytes.Contains(text, []byte("sarama.(*transactionManager).publishTxnPartitions()")) &&
		bytes.Count(text, []byte("Goroutine ")) == 2
}

// scan reads what was logged since the last scan.
func (l *logScan) scan(t *testing.T) {
	t.Helper()
	f, err := os.Open(l.path)
	if err != nil {
		t.Fatalf("read log: %v", err)
	}
	defer func() { _ = f.Close() }() // only read
	if _, err := f.Seek(l.offset, io.SeekStart); err != nil {
		t.Fatalf("read log: %v", err)
	}
	data, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read log: %v", err)
	}
	l.offset += int64(len(data))
	data = append(l.rest, data...)
	end := bytes.LastIndexByte(data, '\n') + 1
	l.rest = slices.Clone(data[end:])
	for line := range bytes.Lines(data[:end]) {
		switch {
		case bytes.Contains(line, []byte("WARNING: DATA RACE")):
			l.race = [][]byte{}
		case l.race != nil && bytes.HasPrefix(line, []byte("==================")):
			if knownSaramaRace(l.race) {
				l.saramaRaces++
			} else {
				l.races++
			}
			l.race = nil
		case l.race != nil:
			l.race = append(l.race, slices.Clone(line))
		}
		// Most lines are order lines: their message is all that counts.
		_, after, ok := bytes.Cut(line, []byte(`"msg":"`))
		if !ok {
			continue // the race detector's or the runtime's own output
		}
		msg, _, _ := bytes.Cut(after, []byte(`"`))
		l.counts[string(msg)]++
		if bytes.Contains(line, l.marker) {
			l.ours[string(msg)]++
		}
		switch string(msg) {
		case msgAssigned:
			var e struct {
				Generation int32              `json:"generation"`
				Claims     map[string][]int32 `json:"claims"`
			}
			if err := json.Unmarshal(line, &e); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			l.assigned, l.generation, l.claims = true, e.Generation, e.Claims
		case msgReleased:
			l.assigned = false
		case msgUpdated:
			l.updated++
		}
	}
}
