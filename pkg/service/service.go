// Package service is the skeleton every service of the shop runs on, so that
// each main.go is only wiring: load configuration, build the logger, connect
// to Kafka and ensure the topics, serve HTTP with /healthz, /readyz and
// /metrics, run consumers and background tasks, and stop all of it
// gracefully.
package service

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/zap"
	"golang.org/x/sync/errgroup"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/health"
	"github.com/eventshop/eventshop/pkg/httpserver"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/logging"
)

// Configurable is a service's config struct: it embeds Base.
type Configurable interface {
	// BaseConfig returns the embedded Base, which Setup loads, validates
	// and logs with the rest.
	BaseConfig() *Base
}

// ErrDone is returned by Setup when the command line asked for something
// that is now done (a successful healthcheck): the process should exit 0.
var ErrDone = errors.New("done")

// HealthcheckCommand is the first argument that makes the binary probe the
// /healthz endpoint of the service configured by the rest of the command line
// and the environment, and exit 0 if it answers. Container images without a
// shell or curl use it as their health check.
const HealthcheckCommand = "healthcheck"

// Setup loads cfg for the service called name from args, an optional config
// file and the environment, then builds its logger and logs the effective
// configuration. With --help it prints usage to out and returns an error that
// satisfies errors.Is(err, config.ErrHelp). With HealthcheckCommand first, it
// probes the running service and returns ErrDone or the probe's error.
func Setup(name string, args []string, out io.Writer, cfg Configurable) (*zap.Logger, error) {
	probe := len(args) > 0 && args[0] == HealthcheckCommand
	if probe {
		args = args[1:]
	}
	if err := config.Load(name, args, cfg, config.WithUsageOutput(out)); err != nil {
		return nil, err
	}
	base := cfg.BaseConfig()
	if probe {
		return nil, healthcheck(base.HTTPAddr)
	}
	log, err := logging.New(base.LogLevel, base.LogFormat)
	if err != nil {
		return nil, err
	}
	log = log.With(zap.String("service", name))
	exitLog.Store(log)
	kafka.UseLogger(log)
	log.Info("starting", zap.Any("config", config.Describe(cfg)))
	return log, nil
}

// healthcheck probes the /healthz endpoint of a service listening on
// httpAddr from the same host.
func healthcheck(httpAddr string) error {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return fmt.Errorf("healthcheck: http_addr %q: %w", httpAddr, err)
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := health.Probe(ctx, "http://"+net.JoinHostPort(host, port)+"/healthz"); err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	return ErrDone
}

// exitLog is the logger Setup built last, which exit flushes: a run that
// fails after Setup but before App.Run would otherwise lose its last lines.
var exitLog atomic.Pointer[zap.Logger]

// RunFunc is a service's run function: main's whole work, on the command
// line's arguments, until ctx ends.
type RunFunc func(ctx context.Context, args []string, out io.Writer) error

// Main is a service's main: it runs run with the command line and a context
// that SIGINT and SIGTERM cancel, then exits with 0 for nil, --help, ErrDone
// or the context.Canceled of the stop a signal asked for (as when SIGTERM
// comes during start), and with 1 and the error on stderr otherwise. A
// second SIGINT or SIGTERM ends the process without waiting for the stop.
func Main(name string, run RunFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The first signal starts a graceful stop; from then on the signals get
	// their default action again, so a second one ends the process at once,
	// whatever the stop is waiting for.
	context.AfterFunc(ctx, stop)
	err := run(ctx, os.Args[1:], os.Stdout)
	// Until stop is called, only a signal ends ctx.
	signalled := ctx.Err() != nil
	stop()
	exit(name, err, signalled)
}

// exit ends the process for the error run returned, as Main says. A
// context.Canceled that no signal caused, from a context cancelled
// elsewhere, is a failure like any other.
func exit(name string, err error, signalled bool) {
	// Flush the log's buffer whatever path the service took to here.
	if log := exitLog.Load(); log != nil {
		_ = log.Sync()
	}
	if err == nil || errors.Is(err, config.ErrHelp) || errors.Is(err, ErrDone) ||
		signalled && errors.Is(err, context.Canceled) {
		os.Exit(0)
	}
	fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
	os.Exit(1)
}

// App is a running service: its Kafka clients, HTTP mux and tasks.
type App struct {
	// Log is the service's logger.
	Log *zap.Logger
	// Events publishes contract events with the standard headers.
	Events *eventbus.Publisher

	name     string
	base     Base
	kafka    kafka.Config
	producer *kafka.Producer
	pinger   *kafka.Pinger
	reader   *kafka.Reader
	mux      *http.ServeMux
	metrics  *metrics
	health   *health.Health
	listener net.Listener
	tasks    []func(context.Context) error
	tracer   *sdktrace.TracerProvider // nil when tracing is off
}

// New binds the HTTP address, connects the service called name to Kafka,
// waiting up to KafkaStartupTimeout for it to answer, and ensures the shop's
// topics and the dead-letter topic exist. The address is bound first so that
// a port already in use fails the start at once.
func New(ctx context.Context, name string, base Base, log *zap.Logger) (*App, error) {
	a := &App{Log: log, name: name, base: base, kafka: base.Kafka(name), mux: http.NewServeMux()}

	var err error
	var lc net.ListenConfig
	if a.listener, err = lc.Listen(ctx, "tcp", base.HTTPAddr); err != nil {
		return nil, fmt.Errorf("http_addr %s: %w", base.HTTPAddr, err)
	}
	fail := func(err error) (*App, error) {
		a.close()
		a.stopTracing(time.Now().Add(time.Second))
		_ = log.Sync()
		return nil, err
	}
	if err := a.startTracing(ctx, os.Getenv); err != nil {
		return fail(err)
	}
	if err := a.waitForKafka(ctx); err != nil {
		return fail(err)
	}
	if err := a.serveMetrics(); err != nil {
		return fail(err)
	}
	if a.producer, err = kafka.NewProducer(a.kafka); err != nil {
		return fail(err)
	}
	if a.pinger, err = kafka.NewPinger(a.kafka); err != nil {
		return fail(err)
	}
	a.Events = eventbus.NewPublisher(a.producer, name)

	a.health = health.New()
	a.health.AddReadiness("kafka", a.pinger.Ping)
	a.health.Register(a.mux)
	if base.Pprof {
		a.mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		a.mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		a.mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return a, nil
}

// waitForKafka ensures the topics, retrying while the cluster is not up yet:
// under docker compose or `make run` the services may start before it.
func (a *App) waitForKafka(parent context.Context) error {
	ctx, cancel := context.WithTimeout(parent, a.base.KafkaStartupTimeout)
	defer cancel()
	var specs []kafka.TopicSpec
	for _, t := range append(contracts.Topics(), a.base.DeadLetterTopic) {
		specs = append(specs, a.TopicSpec(t, nil))
	}
	start := kafka.RetryPolicy{InitialBackoff: 250 * time.Millisecond, MaxBackoff: 5 * time.Second}
	err := start.Retry(ctx, func() error { return kafka.EnsureTopics(ctx, a.kafka, a.Log, specs...) },
		func(_ int, wait time.Duration, err error) {
			a.Log.Info("waiting for Kafka", zap.Strings("brokers", a.kafka.Brokers), zap.Duration("backoff", wait), zap.Error(err))
		})
	switch {
	case err == nil:
		return nil
	case parent.Err() != nil:
		// Stopped while waiting: not a failure.
		return parent.Err()
	default:
		return fmt.Errorf("kafka at %v not available after %s: %w", a.kafka.Brokers, a.base.KafkaStartupTimeout, err)
	}
}

// HTTPAddr is the address the HTTP server listens on: http_addr with the
// port the system chose when it was 0.
func (a *App) HTTPAddr() string { return a.listener.Addr().String() }

// Handle registers an HTTP handler on the service's mux, beside /healthz
// and /readyz. A pattern names its method ("POST /orders"): a request with
// a method no route of its path takes gets 405, the Allow header and a JSON
// error body (see httpserver.JSONNotAllowed). When the service traces, each
// request is served in a span named after its route, such as "POST /orders".
func (a *App) Handle(pattern string, h http.Handler) { a.mux.Handle(pattern, a.traced(h)) }

// Consume runs h for every message of topics in consumer group group, with
// the standard middleware: correlation ids, dead-lettering of permanent
// failures, retry of transient ones and panic recovery. /readyz reports the
// consumer unready while it keeps failing.
func (a *App) Consume(group string, topics []string, h kafka.Handler) error {
	gc := a.GroupConfig(group, topics)
	log := a.Log.With(zap.String("group", group))
	h = kafka.Chain(h,
		eventbus.Correlate(),
		kafka.DeadLetter(a.producer, a.base.DeadLetterTopic, group, log),
		kafka.Retry(kafka.DefaultRetryPolicy(), log),
		kafka.Recover(log),
	)
	c, err := kafka.NewConsumer(a.kafka, gc, h, a.Log)
	if err != nil {
		return err
	}
	a.runConsumer(group, c)
	return nil
}

// GroupConfig is the configuration of every consumer group the service
// joins. Its log lines are part of what a service does (a notification, an
// action recorded), so the log's buffer is written out before each commit:
// a crash then never commits a message whose line was still in the buffer.
func (a *App) GroupConfig(group string, topics []string) kafka.GroupConfig {
	gc := kafka.DefaultGroupConfig(group, topics...)
	gc.ShutdownTimeout = a.base.ShutdownTimeout
	gc.BeforeCommit = func() error { return unwritten(a.Log.Sync()) }
	return gc
}

// unwritten returns the parts of err, from a logger's Sync, that may have
// left lines unwritten. A file that cannot be fsynced, as stderr on a pipe
// or a terminal (EINVAL, ENOTSUP, ENOTTY), refuses after the write went
// through: the lines are out of the process, which is what a commit needs.
func unwritten(err error) error {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		var errs []error
		for _, e := range joined.Unwrap() {
			errs = append(errs, unwritten(e))
		}
		return errors.Join(errs...)
	}
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Op == "sync" &&
		(errors.Is(pe.Err, syscall.EINVAL) || errors.Is(pe.Err, syscall.ENOTSUP) || errors.Is(pe.Err, syscall.ENOTTY)) {
		return nil
	}
	return err
}

// runConsumer runs c beside the HTTP server. The service is not ready while
// the consumer keeps failing: Kafka may answer, yet it makes no progress.
func (a *App) runConsumer(group string, c *kafka.Consumer) {
	a.health.AddReadiness("consumer "+group, func(context.Context) error { return c.Healthy() })
	a.Go(c.Run)
}

// ConsumeBatch runs the batch handlers open returns for the partitions of
// gc's topics in gc's group: start from GroupConfig, and set its
// TransactionalID for batches that commit their output with their offsets. A batch handler gets no middleware: it handles its
// poison messages itself (see kafka.DeadLetters, DeadLetters). /readyz
// reports the consumer unready while it keeps failing.
func (a *App) ConsumeBatch(gc kafka.GroupConfig, open kafka.OpenFunc) error {
	c, err := kafka.NewBatchConsumer(a.kafka, gc, open, a.Log)
	if err != nil {
		return err
	}
	a.runConsumer(gc.Group, c)
	return nil
}

// DeadLetters makes the dead-letter records of consumer group group, for the
// service's dead-letter topic.
func (a *App) DeadLetters(group string) kafka.DeadLetters {
	return kafka.DeadLetters{Topic: a.base.DeadLetterTopic, Group: group}
}

// Publisher publishes raw records with the service's producer.
func (a *App) Publisher() kafka.Publisher { return a.producer }

// Reader returns the service's reader of partitions outside any group,
// connecting it on first use.
func (a *App) Reader() (*kafka.Reader, error) {
	if a.reader == nil {
		r, err := kafka.NewReader(a.kafka)
		if err != nil {
			return nil, err
		}
		a.reader = r
	}
	return a.reader, nil
}

// EnsureTopics creates the service's own topics, beside the shop's.
func (a *App) EnsureTopics(ctx context.Context, specs ...kafka.TopicSpec) error {
	ctx, cancel := context.WithTimeout(ctx, a.base.KafkaStartupTimeout)
	defer cancel()
	return kafka.EnsureTopics(ctx, a.kafka, a.Log, specs...)
}

// TopicSpec describes a topic with the configured partitions and replication.
func (a *App) TopicSpec(name string, configs map[string]string) kafka.TopicSpec {
	return kafka.TopicSpec{
		Name:              name,
		Partitions:        int32(a.base.TopicPartitions),        //nolint:gosec // Base.Validate keeps it within 1..10000
		ReplicationFactor: int16(a.base.TopicReplicationFactor), //nolint:gosec // Base.Validate keeps it within 1..32767
		Configs:           configs,
	}
}

// Go runs task beside the HTTP server and the consumers until the service
// stops. A task returning an error stops the service.
func (a *App) Go(task func(ctx context.Context) error) { a.tasks = append(a.tasks, task) }

// Run serves HTTP and runs the consumers and tasks until ctx ends or one of
// them fails, then stops them all and closes the Kafka clients. The producer
// is closed last: consumers publish while they finish in-flight messages.
func (a *App) Run(ctx context.Context) error {
	// Sync flushes the logger's buffer; stderr itself may refuse to sync.
	defer func() { _ = a.Log.Sync() }()
	g, ctx := errgroup.WithContext(ctx)
	// Slow or idle clients are cut off and connections capped, so that
	// none can hold the service, or its stop, for long.
	limits := httpserver.DefaultLimits()
	srv := httpserver.New(a.metrics.instrument(httpserver.JSONNotAllowed(a.mux)), limits)
	g.Go(func() error {
		a.Log.Info("http listening", zap.String("addr", a.HTTPAddr()))
		return httpserver.ServeListener(ctx, srv, httpserver.Limit(a.listener, limits), a.base.ShutdownTimeout)
	})
	for _, task := range a.tasks {
		g.Go(func() error { return task(ctx) })
	}
	// The stop's budget runs from the moment it is asked for.
	var stopAsked atomic.Int64
	context.AfterFunc(ctx, func() { stopAsked.Store(time.Now().UnixNano()) })
	err := g.Wait()
	// The producer is closed last, since consumers publish while they
	// finish, and within what is left of the shutdown budget: with Kafka
	// gone, flushing would wait as long as sarama retries. A run that ended
	// by itself, not by a stop, gives it the whole budget.
	left := a.base.ShutdownTimeout
	if at := stopAsked.Load(); at != 0 {
		left = max(0, left-time.Since(time.Unix(0, at)))
	}
	closeBy := time.Now().Add(left)
	closed := make(chan struct{})
	go func() { a.close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(left):
		err = errors.Join(err, fmt.Errorf("closing the Kafka clients outlasted the %s shutdown timeout; leaving without them", a.base.ShutdownTimeout))
	}
	// The spans of the last records sent are ended now.
	a.stopTracing(closeBy)
	if err != nil {
		a.Log.Error("stopped with error", zap.Error(err))
	} else {
		a.Log.Info("stopped")
	}
	return err
}

// close releases what New acquired; it also cleans up after a failed New.
func (a *App) close() {
	if a.reader != nil {
		if err := a.reader.Close(); err != nil {
			a.Log.Warn("close kafka reader", zap.Error(err))
		}
	}
	if a.pinger != nil {
		if err := a.pinger.Close(); err != nil {
			a.Log.Warn("close kafka client", zap.Error(err))
		}
	}
	if a.producer != nil {
		if err := a.producer.Close(); err != nil {
			a.Log.Warn("close producer", zap.Error(err))
		}
	}
	_ = a.listener.Close() // already closed after Run; harmless
}
