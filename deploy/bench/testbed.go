package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/embedded"
)

// Bounds on waiting for the services.
const (
	// readyTimeout bounds a service's start, until /readyz answers 200.
	readyTimeout = 60 * time.Second
	// stopGrace is how long a service may take to stop before it is killed;
	// the services' own shutdown timeout is 15 s.
	stopGrace = 20 * time.Second
	// topicPartitions is what the services create their topics with.
	topicPartitions = 6
)

// testbed is what one benchmark runs on: a Kafka cluster (a fresh embedded
// broker, or the cluster given), the harness's client of it, names of this
// run's own (consumer groups, order ids, products on a shared cluster), and
// the service processes it starts.
type testbed struct {
	opts     options
	brokers  []string
	broker   *embedded.Broker // nil on an external cluster
	cluster  *cluster
	run      string    // unique to this benchmark run
	products [2]string // the sample order's two products
	// start holds the end offset of every topic when the testbed was set up:
	// the benchmark's records come after it.
	start    offsets
	services []*service
}

// service is one running service process and where it serves HTTP.
type service struct {
	*process
	httpAddr string
}

// newTestbed prepares the cluster for the benchmark called name: it starts
// an embedded broker unless opts names one, creates the shop's topics and
// commits this run's consumer groups at the current end of every topic.
func newTestbed(ctx context.Context, opts options, name string) (tb *testbed, err error) {
	tb = &testbed{
		opts:     opts,
		run:      name + "-" + strconv.FormatInt(time.Now().UnixNano(), 36),
		products: [2]string{"PRODUCT-123", "PRODUCT-321"},
	}
	defer func() {
		if err != nil {
			err = errors.Join(fmt.Errorf("%s: set up: %w", name, err), tb.close())
			tb = nil
		}
	}()
	if opts.external() {
		tb.brokers = opts.brokers
		// Other runs and shops may use the same topics: give this run's
		// inventory products no one else orders.
		for i, p := range tb.products {
			tb.products[i] = p + "-" + tb.run
		}
	} else {
		if tb.broker, err = embedded.Start(embedded.Options{}); err != nil {
			return tb, err
		}
		tb.brokers = []string{tb.broker.Addr()}
	}
	if tb.cluster, err = dialCluster(tb.brokers); err != nil {
		return tb, err
	}
	if err := tb.createTopics(ctx); err != nil {
		return tb, err
	}
	topics, err := tb.cluster.topics()
	if err != nil {
		return tb, err
	}
	if tb.start, err = tb.cluster.endOffsets(topics); err != nil {
		return tb, err
	}
	groups := []string{tb.group(contracts.ServiceInventory), tb.group(contracts.ServiceNotification), tb.group(contracts.ServiceLogging)}
	return tb, tb.cluster.startGroupsAt(groups, tb.start)
}

// createTopics creates the shop's topics as the services would at start, so
// that the workload can be written before they run.
func (tb *testbed) createTopics(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var specs []kafka.TopicSpec
	for _, t := range append(contracts.Topics(), kafka.DefaultDeadLetterTopic) {
		specs = append(specs, kafka.TopicSpec{Name: t, Partitions: topicPartitions, ReplicationFactor: 1})
	}
	if err := kafka.EnsureTopics(ctx, tb.kafkaConfig(), zap.NewNop(), specs...); err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	return nil
}

// kafkaConfig is the configuration of the harness's own producer.
func (tb *testbed) kafkaConfig() kafka.Config {
	cfg := kafka.DefaultConfig(tb.brokers...)
	cfg.ClientID = "eventshop-bench"
	return cfg
}

// group returns the consumer group id of this run for a service. Any group
// whose id starts with it counts as the service's.
func (tb *testbed) group(serviceName string) string {
	return "bench-" + tb.run + "-" + serviceName
}

// sampleOrder returns the tutorial's sample order with this run's products
// and the order id ORDER-<run>-<i>.
func (tb *testbed) sampleOrder(i int) contracts.Order {
	o := contracts.SampleOrder()
	o.OrderID = fmt.Sprintf("ORDER-%s-%d", tb.run, i)
	o.Products[0].ProductID, o.Products[1].ProductID = tb.products[0], tb.products[1]
	return o
}

// startService runs the named service from the bin directory on this
// testbed's cluster, with its log in logFormat passed line by line to onLine
// (nil discards it) and extra settings in env.
func (tb *testbed) startService(ctx context.Context, name, logFormat string, onLine lineFunc, env ...string) (*service, error) {
	addr, err := freeAddr(ctx)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	base := []string{
		"KAFKA_BROKERS=" + strings.Join(tb.brokers, ","),
		"HTTP_ADDR=" + addr,
		"LOG_LEVEL=info",
		"LOG_FORMAT=" + logFormat,
	}
	switch name {
	case contracts.ServiceOrder:
		base = append(base, "SIMULATOR_INTERVAL=0")
	case contracts.ServiceInventory:
		base = append(base, "CONSUMER_GROUP="+tb.group(name))
		if tb.opts.external() {
			base = append(base, fmt.Sprintf("INITIAL_STOCK=%s=%d,%s=%d",
				tb.products[0], tutorialRule.initial, tb.products[1], tutorialRule.initial))
		}
	default:
		base = append(base, "CONSUMER_GROUP="+tb.group(name))
	}
	p, err := startProcess(name, filepath.Join(tb.opts.bin, name), append(base, env...), onLine)
	if err != nil {
		return nil, err
	}
	s := &service{process: p, httpAddr: addr}
	tb.services = append(tb.services, s)
	return s, nil
}

// waitReady waits until every service answers GET /readyz with 200, failing
// early if one exits.
func (tb *testbed) waitReady(ctx context.Context, services ...*service) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{Timeout: 2 * time.Second}
	for _, s := range services {
		url := "http://" + s.httpAddr + "/readyz"
		for !answersOK(ctx, client, url) {
			if err := s.exited(); !errors.Is(err, errStillRunning) {
				return err
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s not ready: %w", s.name, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	return nil
}

func answersOK(ctx context.Context, client *http.Client, url string) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// forget drops a process the harness stopped or killed itself, so that
// checkRunning and close no longer count it.
func (tb *testbed) forget(p *process) {
	tb.services = slices.DeleteFunc(tb.services, func(s *service) bool { return s.process == p })
}

// checkRunning returns an error if any service has exited.
func (tb *testbed) checkRunning() error {
	for _, s := range tb.services {
		if err := s.exited(); !errors.Is(err, errStillRunning) {
			return err
		}
	}
	return nil
}

// close stops the services together, then disconnects and stops the
// embedded broker: consumers commit their offsets on the way out.
func (tb *testbed) close() error {
	errs := make([]error, len(tb.services))
	var wg sync.WaitGroup
	for i, s := range tb.services {
		wg.Go(func() { errs[i] = s.stop(stopGrace) })
	}
	wg.Wait()
	tb.services = nil
	if tb.cluster != nil {
		errs = append(errs, tb.cluster.close())
	}
	if tb.broker != nil {
		tb.broker.Close()
	}
	return errors.Join(errs...)
}

// freeAddr returns a loopback host:port whose port was free a moment ago.
func freeAddr(ctx context.Context) (string, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}
