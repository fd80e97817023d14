package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// ErrShutdownTimeout is returned by Consumer.Run when in-flight work did not
// finish within GroupConfig.ShutdownTimeout after the context ended.
var ErrShutdownTimeout = errors.New("kafka: consumer shutdown timed out")

// GroupConfig describes one consumer group membership.
type GroupConfig struct {
	// Group is the consumer group id.
	Group string
	// Topics are the topics to consume.
	Topics []string
	// SessionTimeout is how long the coordinator waits for a heartbeat before
	// it evicts the member and hands its partitions to others.
	SessionTimeout time.Duration
	// HeartbeatInterval must be well under SessionTimeout; a third is usual.
	HeartbeatInterval time.Duration
	// RebalanceTimeout is how long the coordinator waits, at a rebalance,
	// for each member to finish its batches and join again; one that takes
	// longer is left out of the group, and its partitions go to the others.
	RebalanceTimeout time.Duration
	// CommitInterval is how often handled offsets are committed. Offsets are
	// also committed when a session ends, on rebalance and on shutdown. A
	// short interval costs one small request per interval and shortens what
	// a crash makes the group read again.
	CommitInterval time.Duration
	// BeforeCommit, if set, is called before each commit, after the
	// messages it covers were handled: a service whose handlers write
	// through a buffer (its log) flushes it here, so that no offset is
	// committed while a crash could still lose what its message produced.
	// An error skips that commit; the offsets go with a later one.
	BeforeCommit func() error
	// ShutdownTimeout bounds a graceful stop: finishing in-flight messages,
	// committing and leaving the group.
	ShutdownTimeout time.Duration
	// StuckAfter is how long one message may be in its handler (retries
	// included) before Healthy reports its partition as stuck.
	StuckAfter time.Duration
	// MaxBatch bounds how many messages a BatchHandler gets at once. A batch
	// is what the partition has ready when the handler is free, never a wait
	// for more.
	MaxBatch int
	// OffsetMetadata is committed with every offset, where Kafka keeps it
	// beside the offset (see Reader.Committed): for what the offsets' meaning
	// depends on, such as how many partitions the state they go with is
	// spread over.
	OffsetMetadata string
	// TransactionalID, if set, makes each batch one Kafka transaction with
	// its input offsets: a handler publishes its output through its
	// Claim's Out, and read-committed readers see it once, and only if the
	// batch's offsets were committed. Each claim has a transactional
	// producer of its own, whose transactional id is TransactionalID, the
	// topic and the partition, connected when the claim starts: the member
	// that claims a partition fences the one before. CommitInterval then
	// plays no part. Without it, offsets are committed on their own, at
	// least once.
	TransactionalID string
}

// DefaultGroupConfig returns a GroupConfig for group on topics with defaults
// that suit services on a laptop and in containers alike.
func DefaultGroupConfig(group string, topics ...string) GroupConfig {
	return GroupConfig{
		Group:             group,
		Topics:            topics,
		SessionTimeout:    10 * time.Second,
		HeartbeatInterval: 3 * time.Second,
		RebalanceTimeout:  30 * time.Second,
		CommitInterval:    200 * time.Millisecond,
		ShutdownTimeout:   15 * time.Second,
		StuckAfter:        time.Minute,
		MaxBatch:          1000,
	}
}

// Validate reports every problem with g, each naming its field.
func (g GroupConfig) Validate() error {
	var errs []error
	if strings.TrimSpace(g.Group) == "" {
		errs = append(errs, errors.New("group: must not be empty"))
	}
	if len(g.Topics) == 0 {
		errs = append(errs, errors.New("topics: at least one topic is required"))
	}
	for name, d := range map[string]time.Duration{
		"session timeout": g.SessionTimeout, "heartbeat interval": g.HeartbeatInterval, "rebalance timeout": g.RebalanceTimeout,
		"commit interval": g.CommitInterval, "shutdown timeout": g.ShutdownTimeout,
		"stuck after": g.StuckAfter,
	} {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive, got %s", name, d))
		}
	}
	if g.MaxBatch < 1 {
		errs = append(errs, fmt.Errorf("max batch: must be at least 1, got %d", g.MaxBatch))
	}
	if g.HeartbeatInterval >= g.SessionTimeout && g.SessionTimeout > 0 {
		errs = append(errs, fmt.Errorf("heartbeat interval: %s must be less than the session timeout %s",
			g.HeartbeatInterval, g.SessionTimeout))
	}
	return errors.Join(errs...)
}

// Consumer runs a Handler for every message of a consumer group's topics, or
// a BatchHandler for every batch of them.
//
// Each partition is processed by its own goroutine, in offset order, so a
// handler must be safe for concurrent use across partitions. A message's
// offset is committed only after the handler returned nil and, if set,
// GroupConfig.BeforeCommit succeeded after that. If the handler returns
// an error, nothing of its batch is marked: the partition's handler is opened
// again, as a new session would, and given the same batch after a capped,
// jittered backoff, until it succeeds or the session ends (a rebalance or a
// stop). The member stays in the group meanwhile, so a failing partition
// holds up only itself. Wrap handlers in Retry and DeadLetter so that only a
// stop or a failed dead-letter publish ever gets that far. With
// GroupConfig.TransactionalID, a batch's offsets are committed in the
// transaction that holds its output instead (exactly once for
// read-committed readers), and a batch whose transaction aborts is handled
// again from a freshly opened handler.
type Consumer struct {
	kcfg    Config
	client  sarama.Client // the group's own, so a stuck stop can close it
	group   sarama.ConsumerGroup
	cfg     GroupConfig
	open    OpenFunc
	log     *zap.Logger
	metrics *Metrics
	// claims are the partitions the member owns now, by topic, nil between
	// sessions; the tests read them (see export_test.go).
	claims atomic.Pointer[map[string][]int32]

	// Failures in a row, for Healthy: sessions that could not start (reset
	// when one starts), handler errors (reset when a batch is handled) and
	// commits that BeforeCommit held back (reset when one goes through).
	sessionFailures atomic.Int32
	handlerFailures atomic.Int32
	commitFailures  atomic.Int32
	lastFailure     atomic.Pointer[error]
	// inFlight holds a *inFlight per claimed partition, keyed by
	// "topic/partition".
	inFlight sync.Map

	// memberID is the member id of the last session, for abandon.
	memberID atomic.Pointer[string]
	// abandoned is set once a stop overran: nothing is committed after it.
	abandoned atomic.Bool
}

// inFlight says which message of a partition is in its handler, and since
// when; since is 0 while the partition waits for messages. Two atomic stores
// per message keep this off the hot path's allocations.
type inFlight struct {
	offset atomic.Int64
	since  atomic.Int64 // unix nanoseconds
}

// unhealthyAfter is how many failures in a row make Healthy report one.
const unhealthyAfter = 3

// Healthy reports an error while the consumer makes no progress: its
// sessions do not start (the cluster is away, a topic is missing), its
// handler keeps failing, BeforeCommit keeps failing, or one message has been
// in its handler for longer than StuckAfter (a retry loop that never
// succeeds, a hung call). Services use it for readiness.
func (c *Consumer) Healthy() error {
	var stuck error
	c.inFlight.Range(func(key, value any) bool {
		f := value.(*inFlight)
		since := f.since.Load()
		if d := time.Since(time.Unix(0, since)); since != 0 && d > c.cfg.StuckAfter {
			stuck = fmt.Errorf("consumer group %s: %s@%d has been in its handler for %s",
				c.cfg.Group, key, f.offset.Load(), d.Round(time.Second))
			return false
		}
		return true
	})
	if stuck != nil {
		return stuck
	}
	s, h, b := c.sessionFailures.Load(), c.handlerFailures.Load(), c.commitFailures.Load()
	if s < unhealthyAfter && h < unhealthyAfter && b < unhealthyAfter {
		return nil
	}
	var last error
	if p := c.lastFailure.Load(); p != nil {
		last = *p
	}
	switch {
	case s >= unhealthyAfter:
		return fmt.Errorf("consumer group %s: %d sessions in a row failed to start, last: %w", c.cfg.Group, s, last)
	case h >= unhealthyAfter:
		return fmt.Errorf("consumer group %s: the handler failed %d times in a row, last: %w", c.cfg.Group, h, last)
	}
	return fmt.Errorf("consumer group %s: %d commits in a row held back by a failing BeforeCommit, last: %w", c.cfg.Group, b, last)
}

func (c *Consumer) recordFailure(counter *atomic.Int32, err error) {
	counter.Add(1)
	c.lastFailure.Store(&err)
}

// NewConsumer returns a Consumer that calls h for each message, marking each
// one as soon as h returns nil. It joins nothing yet: it connects to the
// cluster, and Run joins.
func NewConsumer(cfg Config, gc GroupConfig, h Handler, log *zap.Logger) (*Consumer, error) {
	gc.MaxBatch = 1
	return NewBatchConsumer(cfg, gc, perMessage(h), log)
}

// NewBatchConsumer returns a Consumer that calls open when it starts on a
// partition and then the BatchHandler open returned for each batch of that
// partition's messages, marking a batch as a whole once the handler returns
// nil.
func NewBatchConsumer(cfg Config, gc GroupConfig, open OpenFunc, log *zap.Logger) (*Consumer, error) {
	if err := gc.Validate(); err != nil {
		return nil, fmt.Errorf("kafka group config: %w", err)
	}
	sc, err := cfg.sarama()
	if err != nil {
		return nil, err
	}
	// Sticky, like every strategy sarama offers, is eager: a rebalance ends
	// every claim of the session, which makes "the session is ending" one
	// simple signal for handlers.
	sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	sc.Consumer.Group.Session.Timeout = gc.SessionTimeout
	sc.Consumer.Group.Heartbeat.Interval = gc.HeartbeatInterval
	sc.Consumer.Group.Rebalance.Timeout = gc.RebalanceTimeout
	// A group without a committed offset starts at the beginning of each
	// partition, as the tutorial's `fromBeginning: true`.
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	// Offsets are committed by the consumer's own loop (see committer),
	// which calls BeforeCommit first.
	sc.Consumer.Offsets.AutoCommit.Enable = false
	sc.Consumer.Return.Errors = true
	// Fetch at most 256 KiB per partition at a time (sarama's default is
	// 1 MiB): a fetch response is held in memory while its records wait in
	// the partition's channel, and a smaller one keeps a service that reads
	// a dozen partitions in tens of megabytes without slowing it down.
	sc.Consumer.Fetch.Default = 256 << 10
	// A partition's channel holds up to a batch, so that a batch is what
	// has arrived, not what a channel of sarama's default 256 could hold.
	sc.ChannelBufferSize = gc.MaxBatch
	// Read only committed data: harmless without transactions, and correct the
	// day a producer in the system uses them.
	sc.Consumer.IsolationLevel = sarama.ReadCommitted

	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka: new consumer group %s: %w", gc.Group, err)
	}
	group, err := sarama.NewConsumerGroupFromClient(gc.Group, client)
	if err != nil {
		_ = client.Close()
		return nil, fmt.Errorf("kafka: new consumer group %s: %w", gc.Group, err)
	}
	cfg.Metrics.joining(gc.Group)
	return &Consumer{
		kcfg:    cfg,
		client:  client,
		group:   group,
		cfg:     gc,
		open:    tracedOpen(tracerOf(cfg.TracerProvider), gc.Group, open),
		log:     log.With(zap.String("group", gc.Group)),
		metrics: cfg.Metrics,
	}, nil
}

// Run consumes until ctx ends, then stops gracefully: no new messages are
// taken, in-flight handlers get three quarters of ShutdownTimeout to finish
// (their context is cancelled then, leaving the rest of the budget for the
// final commit), marked offsets are committed and the group is left. It
// returns nil after a clean stop and ErrShutdownTimeout if the stop overran;
// the member then leaves the group all the same, in the background, so that
// the others take over its partitions at once (see abandon).
//
// Failures while running do not end Run, since consuming later beats not
// consuming: a session that cannot start (the cluster away, a topic
// missing) is started again with capped backoff, and a handler error is
// retried in place (see Consumer).
func (c *Consumer) Run(ctx context.Context) error {
	// Handlers get a context that outlives ctx, so work under way when the
	// stop comes can finish instead of being torn down.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork()
	stopWork := context.AfterFunc(ctx, func() {
		time.AfterFunc(c.cfg.ShutdownTimeout*3/4, cancelWork)
	})
	defer stopWork()

	var wg sync.WaitGroup
	wg.Go(func() {
		for err := range c.group.Errors() {
			c.log.Warn("consumer group error", zap.Error(err))
		}
	})

	done := make(chan error, 1)
	go func() { done <- c.loop(ctx, workCtx) }()

	// One budget covers the whole stop: finishing handlers, the final commit
	// and leaving the group.
	var runErr error
	var budget <-chan time.Time
	select {
	case runErr = <-done:
		budget = time.After(c.cfg.ShutdownTimeout)
	case <-ctx.Done():
		budget = time.After(c.cfg.ShutdownTimeout)
		select {
		case runErr = <-done:
		case <-budget:
			c.log.Error("in-flight messages did not finish in time",
				zap.Duration("shutdown_timeout", c.cfg.ShutdownTimeout))
			go c.abandon()
			return ErrShutdownTimeout
		}
	}

	// Close leaves the group, so the coordinator rebalances at once rather
	// than after a session timeout. A dead broker must not hold the process
	// hostage, so this is bounded by the same budget.
	closed := make(chan error, 1)
	go func() {
		err := c.group.Close()
		if cerr := c.client.Close(); err == nil {
			err = cerr
		}
		closed <- err
	}()
	select {
	case err := <-closed:
		if err != nil && runErr == nil {
			runErr = fmt.Errorf("kafka: leave group %s: %w", c.cfg.Group, err)
		}
		wg.Wait()
	case <-budget:
		if runErr == nil {
			runErr = ErrShutdownTimeout
		}
	}
	c.log.Info("consumer stopped", zap.Error(runErr))
	return runErr
}

// abandon takes the member out of the group while a handler that ignores
// its context holds the session, and with it the lock that the group's
// Close waits on. Nothing is committed any more, so the stuck handler's
// offset stays uncommitted; a LeaveGroup request for the member makes the
// coordinator rebalance at once, and closing the client stops the
// heartbeats that would otherwise keep the member, and its partitions, in
// the group.
func (c *Consumer) abandon() {
	c.abandoned.Store(true)
	if err := c.leave(); err != nil {
		c.log.Warn("could not leave the group; the session timeout will evict the member", zap.Error(err))
	} else {
		c.log.Info("left the group without waiting for the stuck handler")
	}
	_ = c.client.Close()
	// Close returns, and releases the rest, once the stuck handler does.
	_ = c.group.Close()
}

// leave sends the coordinator a LeaveGroup request for the member, as
// sarama's Close does.
func (c *Consumer) leave() error {
	id := c.memberID.Load()
	if id == nil {
		return nil // never joined
	}
	coordinator, err := c.client.Coordinator(c.cfg.Group)
	if err != nil {
		return err
	}
	req := &sarama.LeaveGroupRequest{GroupId: c.cfg.Group, MemberId: *id}
	switch v := c.client.Config().Version; {
	case v.IsAtLeast(sarama.V3_2_0_0):
		req.Version = 5
	case v.IsAtLeast(sarama.V2_4_0_0):
		req.Version = 4
	case v.IsAtLeast(sarama.V2_0_0_0):
		req.Version = 2
	default:
		req.Version = 1
	}
	if req.Version >= 3 {
		member := sarama.MemberIdentity{MemberId: *id}
		if req.Version >= 5 {
			reason := "a handler did not finish within the shutdown timeout"
			member.Reason = &reason
		}
		req.Members = []sarama.MemberIdentity{member}
	}
	resp, err := coordinator.LeaveGroup(req)
	if err != nil {
		return err
	}
	errs := []sarama.KError{resp.Err}
	for _, m := range resp.Members {
		errs = append(errs, m.Err)
	}
	for _, kerr := range errs {
		if kerr != sarama.ErrNoError && kerr != sarama.ErrUnknownMemberId {
			return kerr
		}
	}
	return nil
}

// loop calls Consume for one session after another: with eager balance
// strategies every rebalance ends a session. A session that fails to start
// (the broker away) is tried again with a capped backoff rather than
// spinning; one that ran starts the backoff afresh.
func (c *Consumer) loop(ctx, workCtx context.Context) error {
	gh := &groupHandler{owner: c, workCtx: workCtx, log: c.log}
	sessions := RetryPolicy{InitialBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second}
	for ctx.Err() == nil {
		closed := false
		_ = sessions.Retry(ctx, func() error {
			err := c.group.Consume(ctx, c.cfg.Topics, gh)
			closed = errors.Is(err, sarama.ErrClosedConsumerGroup)
			if closed {
				return nil
			}
			return err
		}, func(_ int, wait time.Duration, err error) {
			c.recordFailure(&c.sessionFailures, err)
			c.log.Warn("consume session failed, rejoining", zap.Error(err), zap.Duration("backoff", wait))
		})
		if closed {
			return nil
		}
	}
	return nil
}

// groupHandler adapts an OpenFunc to sarama.ConsumerGroupHandler.
type groupHandler struct {
	owner   *Consumer
	workCtx context.Context
	log     *zap.Logger
	commits atomic.Pointer[committer]
}

func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	claims := sess.Claims()
	h.owner.claims.Store(&claims)
	h.owner.metrics.sessionStarted(h.owner.cfg.Group, claims)
	h.owner.sessionFailures.Store(0)
	id := sess.MemberID()
	h.owner.memberID.Store(&id)
	c := newCommitter(h.owner, sess)
	h.commits.Store(c)
	go c.run()
	h.log.Info("partitions assigned", zap.Any("claims", claims),
		zap.String("member_id", sess.MemberID()), zap.Int32("generation", sess.GenerationID()))
	return nil
}

func (h *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	// Every claim has returned: what they handled is committed now, while
	// the session's generation still owns the partitions.
	h.commits.Load().finish()
	h.owner.claims.Store(nil)
	h.owner.metrics.sessionEnded(h.owner.cfg.Group, sess.Claims())
	h.log.Info("partitions released", zap.Any("claims", sess.Claims()),
		zap.Int32("generation", sess.GenerationID()))
	return nil
}

func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	metrics := h.owner.metricsOf(claim)
	defer metrics.release()
	ctx := withClaimMetrics(withStopping(h.workCtx, sess.Context().Done()), metrics)
	key := fmt.Sprintf("%s/%d", claim.Topic(), claim.Partition())
	busy := &inFlight{}
	h.owner.inFlight.Store(key, busy)
	defer h.owner.inFlight.Delete(key)
	handled := h.commits.Load().track(claim.Topic(), claim.Partition())

	// handle is the partition's handler; nil until opened, and again after
	// it failed, so that each retry starts from a clean state.
	var handle BatchHandler
	var txns *partitionTxns
	defer func() {
		if txns != nil {
			if err := txns.close(); err != nil {
				h.log.Warn("close transactional producer", zap.Error(err))
			}
		}
	}()
	reopen := func() error {
		c := Claim{Topic: claim.Topic(), Partition: claim.Partition()}
		if h.owner.cfg.TransactionalID != "" {
			if txns == nil {
				// Before the handler restores any state: connecting the
				// partition's producer aborts what its last owner left
				// open, and fences that owner.
				id := fmt.Sprintf("%s-%s-%d", h.owner.cfg.TransactionalID, c.Topic, c.Partition)
				var err error
				if txns, err = newPartitionTxns(h.owner.kcfg, id, h.log); err != nil {
					return fmt.Errorf("open %s: %w", key, err)
				}
			}
			c.Out = txns
		}
		var err error
		if handle, err = h.owner.open(ctx, c); err != nil {
			return fmt.Errorf("open %s: %w", key, err)
		}
		return nil
	}
	if !h.untilDone(sess, reopen) {
		return nil
	}
	raw := make([]*sarama.ConsumerMessage, 0, h.owner.cfg.MaxBatch)
	batch := make([]*Message, 0, h.owner.cfg.MaxBatch)
	// next is the offset after the last record handled: at first the
	// offset the claim starts from, -1 when it is not known yet.
	next := max(-1, claim.InitialOffset())
	idle := time.NewTimer(settleAfter)
	defer idle.Stop()
	for {
		var open, idled bool
		raw, open, idled = nextBatch(sess.Context().Done(), claim.Messages(), idle.C, raw[:0])
		if idled {
			if end, ok := h.settle(sess, claim, txns, next, handled); ok {
				next = end
				metrics.handled(0, next)
			}
			idle.Reset(settleAfter)
			continue
		}
		if len(raw) > 0 {
			batch = batch[:0]
			for _, cm := range raw {
				batch = append(batch, messageFromSarama(cm))
			}
			busy.offset.Store(batch[0].Offset)
			busy.since.Store(time.Now().UnixNano())
			metrics.received(batch[0].Offset)
			ok := h.untilDone(sess, func() error {
				if handle == nil {
					if err := reopen(); err != nil {
						return err
					}
				}
				after := batch[len(batch)-1].Offset + 1
				if err := metrics.attempt(len(batch), func() error {
					return h.handle(sess, claim, txns, after, func() error { return handle(ctx, batch) })
				}); err != nil {
					handle = nil
					return fmt.Errorf("handle %s@%d-%d: %w", key, batch[0].Offset, batch[len(batch)-1].Offset, err)
				}
				return nil
			})
			busy.since.Store(0)
			if !ok {
				// Not marked: whoever owns the partition next starts
				// again from the batch's first message.
				return nil
			}
			// The next commit takes the whole batch, unless its transaction
			// has committed it already.
			if txns == nil {
				handled.Store(raw[len(raw)-1].Offset + 1)
			}
			next = raw[len(raw)-1].Offset + 1
			metrics.handled(len(batch), next)
			idle.Reset(settleAfter)
			if h.owner.handlerFailures.Load() != 0 {
				h.owner.handlerFailures.Store(0)
			}
		}
		if !open {
			return nil
		}
	}
}

// handle runs fn, a batch's handler that ends before next, in a
// transaction of txns when the consumer has them.
func (h *groupHandler) handle(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim, txns *partitionTxns,
	next int64, fn func() error) error {
	if txns == nil {
		return fn()
	}
	return txns.run(sess, h.owner.cfg, claim.Topic(), claim.Partition(), next, fn)
}

// settleAfter is how long a partition waits without records before it
// looks past its last record (see settle).
const settleAfter = 200 * time.Millisecond

// settle commits the partition's offset past what follows its last
// handled record, next, when that is only transaction markers and aborted
// records up to the high watermark, and returns the offset it committed,
// or false. A read-committed consumer is never given those, so its offset
// would stay short of the end, and its lag read one for ever. It asks the
// broker with a fetch of its own before it commits: only what holds no
// committed record is passed.
func (h *groupHandler) settle(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim, txns *partitionTxns,
	next int64, handled *atomic.Int64) (int64, bool) {
	end := claim.HighWaterMarkOffset()
	if next < 0 || end <= next {
		return 0, false
	}
	n, settled, err := committedBetween(h.owner.client, claim.Topic(), claim.Partition(), next, end)
	if err != nil || !settled || n > 0 {
		return 0, false // records on their way, or a transaction open: later
	}
	if txns != nil {
		// A transaction of offsets alone, so that no commit of the
		// group's goes outside its transactions.
		if err := txns.run(sess, h.owner.cfg, claim.Topic(), claim.Partition(), end, func() error { return nil }); err != nil {
			return 0, false
		}
		return end, true
	}
	handled.Store(end)
	return end, true
}

// untilDone calls fn until it returns nil, and reports true then; it
// reports false if the session ends first. Each failure counts for Healthy
// and is followed by a capped, jittered backoff. The member stays in the
// group meanwhile: leaving would make the whole group rebalance on every
// retry, and the partition would not be handled any sooner.
//
// A partition's transactional producer that another took the place of
// (errFenced) ends the claim at once, and with it the session: the
// partition most likely has another owner, and a new producer of the same
// id would fence that one in turn. If it has not, the next session's claim
// connects a new producer.
func (h *groupHandler) untilDone(sess sarama.ConsumerGroupSession, fn func() error) bool {
	_, err := DefaultRetryPolicy().retry(sess.Context(), func() error {
		err := fn()
		if err != nil {
			h.owner.recordFailure(&h.owner.handlerFailures, err)
		}
		return err
	}, func(err error) bool { return errors.Is(err, errFenced) }, func(attempt int, wait time.Duration, err error) {
		h.log.Warn("handler failed, retrying", zap.Error(err), zap.Int("attempt", attempt), zap.Duration("backoff", wait))
	})
	if errors.Is(err, errFenced) {
		h.log.Warn("partition given up: its transactional producer was fenced", zap.Error(err))
	}
	return err == nil
}

// nextBatch waits for one message, then takes whatever else msgs holds
// ready, up to cap(buf). It reports false once the session is over or the
// claim's channel closed; the batch it returns with false may still hold
// messages, which the caller handles before stopping. It reports idled,
// with no messages, if idle fires first.
func nextBatch(done <-chan struct{}, msgs <-chan *sarama.ConsumerMessage, idle <-chan time.Time,
	buf []*sarama.ConsumerMessage) (_ []*sarama.ConsumerMessage, open, idled bool) {
	// A session that is over takes no more, however many records are
	// buffered: the partitions may be someone else's already.
	select {
	case <-done:
		return buf, false, false
	default:
	}
	select {
	case <-done:
		return buf, false, false
	case <-idle:
		return buf, true, true
	case cm, ok := <-msgs:
		if !ok {
			return buf, false, false
		}
		buf = append(buf, cm)
	}
	for len(buf) < cap(buf) {
		select {
		case cm, ok := <-msgs:
			if !ok {
				return buf, false, false
			}
			buf = append(buf, cm)
		default:
			return buf, true, false
		}
	}
	return buf, true, false
}

type stoppingKey struct{}

func withStopping(ctx context.Context, stop <-chan struct{}) context.Context {
	return context.WithValue(ctx, stoppingKey{}, stop)
}

// Stopping returns a channel that is closed when the consumer wants the
// handler to wrap up: the service is stopping or the partition is being
// reassigned. Unlike ctx.Done(), it leaves time to finish work in hand; it
// is meant for loops that could otherwise go on for long, such as Retry.
// It returns nil, a channel that never closes, outside a Consumer.
func Stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stoppingKey{}).(<-chan struct{})
	return ch
}

// committer commits the offsets a session's claims have handled, every
// CommitInterval while the session runs and once more when it ends. Each
// round takes the offsets handled so far, calls BeforeCommit, and only then
// marks and commits them, so that no offset is committed ahead of the hook.
type committer struct {
	owner *Consumer
	sess  sarama.ConsumerGroupSession

	rounds sync.Mutex // serialises rounds; marked is theirs
	mu     sync.Mutex // guards claims, never held across a call out
	claims []*claimOffsets

	stop chan struct{}
	done chan struct{}
}

// claimOffsets is one claimed partition's progress.
type claimOffsets struct {
	topic     string
	partition int32
	// handled is the offset after the last message handled, -1 before one.
	handled atomic.Int64
	marked  int64 // the last offset marked; guarded by committer.rounds
}

func newCommitter(owner *Consumer, sess sarama.ConsumerGroupSession) *committer {
	return &committer{owner: owner, sess: sess, stop: make(chan struct{}), done: make(chan struct{})}
}

// track registers a claimed partition and returns where its claim stores
// the offset after the last message it handled.
func (c *committer) track(topic string, partition int32) *atomic.Int64 {
	co := &claimOffsets{topic: topic, partition: partition, marked: -1}
	co.handled.Store(-1)
	c.mu.Lock()
	c.claims = append(c.claims, co)
	c.mu.Unlock()
	return &co.handled
}

func (c *committer) run() {
	defer close(c.done)
	tick := time.NewTicker(c.owner.cfg.CommitInterval)
	defer tick.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-tick.C:
			c.round()
		}
	}
}

// finish stops the periodic rounds and runs the last one.
func (c *committer) finish() {
	close(c.stop)
	<-c.done
	c.round()
}

func (c *committer) round() {
	c.rounds.Lock()
	defer c.rounds.Unlock()
	if c.owner.abandoned.Load() {
		return
	}
	c.mu.Lock()
	claims := c.claims
	c.mu.Unlock()
	type due struct {
		claim  *claimOffsets
		offset int64
	}
	var dues []due
	for _, co := range claims {
		if off := co.handled.Load(); off > co.marked {
			dues = append(dues, due{co, off})
		}
	}
	if len(dues) > 0 && c.owner.cfg.BeforeCommit != nil {
		if err := c.owner.cfg.BeforeCommit(); err != nil {
			if c.owner.commitFailures.Add(1) == 1 {
				c.owner.log.Warn("offsets not committed: before commit failed", zap.Error(err))
			}
			c.owner.lastFailure.Store(&err)
			return
		}
		if n := c.owner.commitFailures.Swap(0); n > 0 {
			c.owner.log.Info("offsets committed again", zap.Int32("rounds_skipped", n))
		}
	}
	for _, d := range dues {
		c.sess.MarkOffset(d.claim.topic, d.claim.partition, d.offset, c.owner.cfg.OffsetMetadata)
		d.claim.marked = d.offset
	}
	// Commit sends only what is marked and not yet committed; it is called
	// every round so that a commit the broker refused is sent again.
	c.sess.Commit()
}
