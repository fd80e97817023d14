package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/api/apicheck"
	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/metricstest"
	"github.com/eventshop/eventshop/pkg/service/servicetest"
)

// runServiceEnv, set to 1, makes the test binary run the service's main
// instead of the tests; see startService.
const runServiceEnv = "INVENTORY_SERVICE_TEST_RUN_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(runServiceEnv) == "1" {
		main()
	}
	os.Exit(m.Run())
}

// TestServiceAppliesOrdersFromKafka runs the service on a broker and feeds
// it the tutorial's sample order three times: the third takes the first
// product to 100, so it is reported empty and refilled.
//
// The orders, products, consumer group and correlation ids are this run's
// own, so the test holds on a shared cluster (KAFKA_BROKERS) whose
// new-order-topic other tests and runs write to as well: their orders name
// products this instance does not hold.
func TestServiceAppliesOrdersFromKafka(t *testing.T) {
	t.Parallel()
	kcfg := kafka.DefaultConfig(kafkatest.Brokers(t)...)
	httpAddr := servicetest.FreeAddr(t)
	p1, p2 := kafkatest.Name(t, "PRODUCT-123"), kafkatest.Name(t, "PRODUCT-321")
	run := kafkatest.Name(t, "order")

	svc := startService(t, "--kafka-brokers", kcfg.Brokers[0], "--http-addr", httpAddr,
		"--consumer-group", kafkatest.Name(t, "inventory-service"),
		"--initial-stock", p1+"=109,"+p2+"=109")
	stockURL := "http://" + httpAddr + "/stock"
	stock := func(n1, n2 int) string { return fmt.Sprintf(`{%q:%d,%q:%d}`+"\n", p1, n1, p2, n2) }
	// The service answers on HTTP once it has ensured the topics.
	waitForStock(t, svc, stockURL, stock(109, 109))

	// The container image's health check runs the binary this way.
	probe := exec.CommandContext(t.Context(), os.Args[0], "healthcheck", "--http-addr", httpAddr)
	probe.Env = []string{runServiceEnv + "=1"}
	if out, err := probe.CombinedOutput(); err != nil {
		t.Errorf("healthcheck of the running service: %v\n%s", err, out)
	}

	publishOrders(t, kcfg, run, p1, p2, 3)

	// After order 3: p1 109 -> 106 -> 103 -> 100, refilled to 109;
	// p2 109 -> 108 -> 107 -> 106.
	waitForStock(t, svc, stockURL, stock(109, 106))
	// The metrics come from the same view as GET /stock. p1 ends where it
	// began, at 109, so the stock alone does not say its refill is in the
	// view yet: wait until the metrics agree, then report what differs.
	wantMetrics := []struct {
		name, product string
		value         float64
	}{
		{"eventshop_stock_items", p1, 109}, {"eventshop_stock_items", p2, 106},
		{"eventshop_inventory_empty_total", p1, 1}, {"eventshop_inventory_empty_total", p2, 0},
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		metrics := metricstest.Scrape(t, "http://"+httpAddr+"/metrics")
		var problems []string
		for _, want := range wantMetrics {
			if got := metrics.Series(want.name, "product", want.product); len(got) != 1 || got[0].Value != want.value {
				problems = append(problems, fmt.Sprintf("%s{product=%q} = %v, want %g", want.name, want.product, got, want.value))
			}
		}
		if len(problems) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the metrics never matched the stock: %s", strings.Join(problems, "; "))
		}
	}

	ours := func(m *kafka.Message) bool {
		return strings.HasPrefix(m.Header(contracts.HeaderCorrelationID), run+"-")
	}
	// The three orders have different keys, so they sit on different
	// partitions and are applied concurrently: which of them takes p1 to
	// the threshold is not fixed, only that exactly one does.
	// On a shared cluster the inventories of other tests read these orders
	// too and report p1 and p2 as unknown products, with these orders'
	// correlation ids: only this shop's updates and refills count.
	oursApplied := func(m *kafka.Message) bool {
		return ours(m) && !strings.Contains(string(m.Value), contracts.ActionInventoryUnknownProduct)
	}
	// Wait for what the orders should publish, stop the service so that it
	// publishes nothing more, then read both topics to their end: a record
	// published twice is counted twice.
	kafkatest.ReadMatching(t, kcfg, contracts.TopicInventoryEmpty, ours, 1, 20*time.Second)
	kafkatest.ReadMatching(t, kcfg, contracts.TopicNewLoggingAction, oursApplied, 7, 20*time.Second)
	svc.stop(t)

	empties := kafkatest.ReadToEnd(t, kcfg, contracts.TopicInventoryEmpty, ours, 20*time.Second)
	if len(empties) != 1 {
		t.Fatalf("read %d inventory-empty records of these orders, want 1", len(empties))
	}
	if got, want := describe(empties[0]), fmt.Sprintf(`%s {"productId":%q} inventory-service`, p1, p1); got != want {
		t.Errorf("inventory-empty record:\n%s\nwant\n%s", got, want)
	}
	actions := kafkatest.ReadToEnd(t, kcfg, contracts.TopicNewLoggingAction, oursApplied, 20*time.Second)
	counts := map[string]int{}
	for _, m := range actions {
		counts[describe(m)]++
	}
	want := map[string]int{
		`inventory-service {"serviceName":"inventory-service","action":"inventory-updated"} inventory-service`: 6,
		`inventory-service {"serviceName":"inventory-service","action":"inventory-empty"} inventory-service`:   1,
	}
	if !maps.Equal(counts, want) {
		t.Errorf("logging actions:\n%v\nwant\n%v", counts, want)
	}
}

// describe renders a record as "key body source-service".
func describe(m *kafka.Message) string {
	return fmt.Sprintf("%s %s %s", m.Key, m.Value, m.Header(contracts.HeaderSourceService))
}

// publishOrders publishes the sample order n times with its products renamed
// p1 and p2, correlated as run-1, run-2 and so on.
func publishOrders(t *testing.T, cfg kafka.Config, run, p1, p2 string, n int) {
	t.Helper()
	producer, err := kafka.NewProducer(cfg)
	if err != nil {
		t.Fatalf("producer: %v", err)
	}
	defer producer.Close()
	pub := eventbus.NewPublisher(producer, "test")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := 1; i <= n; i++ {
		order := contracts.SampleOrder()
		order.OrderID = fmt.Sprintf("%s-%d", run, i)
		order.Products[0].ProductID, order.Products[1].ProductID = p1, p2
		orderCtx := correlation.With(ctx, fmt.Sprintf("%s-%d", run, i))
		if err := pub.Publish(orderCtx, order); err != nil {
			t.Fatalf("publish order %d: %v", i, err)
		}
	}
}

// child is the service running in a child process.
type child struct {
	cmd     *exec.Cmd
	logPath string        // the process's standard output and error
	exited  chan struct{} // closed when the process has exited
	err     error         // cmd.Wait's result, set before exited is closed
}

// startService runs the service's main in a child process (the test binary
// itself, with runServiceEnv set) with args and a clean environment, so it
// runs with its defaults apart from args. A process of its own also keeps the
// service's sarama clients and the package-level sarama logger that run
// installs apart from the test's own Kafka clients, and lets the test stop it
// as an operator would, with SIGTERM. Its log is shown if the test fails.
func startService(t *testing.T, args ...string) *child {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), "service.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	// The child writes the log through its own descriptor; ours is only
	// passed on, so its Close loses nothing.
	defer func() { _ = logFile.Close() }()

	// The test stops the service itself: SIGTERM in stop, as an operator
	// would, SIGKILL in kill, as a crash would. The context only kills what
	// is still running when the test ends, just before the Cleanup below.
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = []string{runServiceEnv + "=1"}
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		t.Fatalf("start service: %v", err)
	}
	s := &child{cmd: cmd, logPath: logPath, exited: make(chan struct{})}
	go func() {
		s.err = cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		<-s.exited
		if t.Failed() {
			t.Logf("service output:\n%s", logTail(logPath, 64<<10))
		}
	})
	return s
}

// logTail returns the last limit bytes of the file at path: a service that
// logs every order line writes megabytes under a long test.
func logTail(path string, limit int64) string {
	log, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	if cut := int64(len(log)) - limit; cut > 0 {
		return fmt.Sprintf("[first %d bytes left out]\n%s", cut, log[cut:])
	}
	return string(log)
}

// stop sends SIGTERM and expects a clean exit within the shutdown timeout.
func (s *child) stop(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("signal service: %v", err)
	}
	select {
	case <-s.exited:
		if s.err != nil {
			t.Errorf("service exited with %v, want status 0", s.err)
		}
	case <-time.After(30 * time.Second):
		t.Error("service did not stop within 30s of SIGTERM")
	}
}

// waitForStock polls url until it answers with want, failing the test if the
// service exits or 30 seconds pass first.
func waitForStock(t *testing.T, s *child, url, want string) {
	t.Helper()
	docs, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	// Every answer must match api/openapi.yaml.
	client := &http.Client{Timeout: time.Second, Transport: docs.Transport(t, nil)}
	deadline := time.After(30 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last string
	for {
		if body, err := get(t.Context(), client, url); err != nil {
			last = err.Error()
		} else if last = body; body == want {
			return
		}
		select {
		case <-s.exited:
			t.Fatalf("service exited early: %v", s.err)
		case <-deadline:
			t.Fatalf("GET %s: last answer %q, want %q", url, last, want)
		case <-tick.C:
		}
	}
}

func get(ctx context.Context, client *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", errors.New(resp.Status)
	}
	return string(body), nil
}

// TestChangedPartitionCountIsRefused grows the inventory's internal topics
// after it has committed state, as an operator following "add partitions
// to scale" would: the products would then be looked for on other
// partitions, and start again from their initial stock. The service must
// refuse to start, and say where to read how to re-partition.
func TestChangedPartitionCountIsRefused(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		grow func(group string) []string
		want string
	}{
		{"all three grown together", func(group string) []string {
			return []string{group + "-reservations", group + "-stock-changelog", group + "-applied-orders-changelog"}
		}, "the inventory's state was made with 6"},
		{"a changelog alone", func(group string) []string {
			return []string{group + "-stock-changelog"}
		}, "they must match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			kcfg := kafka.DefaultConfig(kafkatest.Brokers(t)...)
			group := kafkatest.Name(t, "inventory-service")
			p1, p2 := kafkatest.Name(t, "PRODUCT-123"), kafkatest.Name(t, "PRODUCT-321")
			args := []string{"--kafka-brokers", kcfg.Brokers[0], "--consumer-group", group,
				"--initial-stock", p1 + "=109," + p2 + "=109", "--topic-partitions", "6"}
			httpAddr := servicetest.FreeAddr(t)
			svc := startService(t, append(args, "--http-addr", httpAddr)...)
			stockURL := "http://" + httpAddr + "/stock"
			waitForStock(t, svc, stockURL, fmt.Sprintf(`{%q:109,%q:109}`+"\n", p1, p2))
			publishOrders(t, kcfg, kafkatest.Name(t, "order"), p1, p2, 1)
			waitForStock(t, svc, stockURL, fmt.Sprintf(`{%q:106,%q:108}`+"\n", p1, p2))
			svc.stop(t)

			admin := newClusterAdmin(t, kcfg)
			for _, topic := range tc.grow(group) {
				if err := admin.CreatePartitions(topic, 7, nil, false); err != nil {
					t.Fatalf("grow %s to 7 partitions: %v", topic, err)
				}
			}
			again := startService(t, append(args, "--http-addr", servicetest.FreeAddr(t))...)
			select {
			case <-again.exited:
			case <-time.After(60 * time.Second):
				t.Fatal("the service started on grown topics")
			}
			out, err := os.ReadFile(again.logPath)
			if err != nil {
				t.Fatal(err)
			}
			var exit *exec.ExitError
			if !errors.As(again.err, &exit) || exit.ExitCode() != 1 ||
				!strings.Contains(string(out), tc.want) || !strings.Contains(string(out), "docs/operations.md#re-partitioning-the-inventory") {
				t.Errorf("the service exited with %v, output:\n%s\nwant status 1 and an error saying %q and where to read how to re-partition",
					again.err, logTail(again.logPath, 4<<10), tc.want)
			}
		})
	}
}

func newClusterAdmin(t *testing.T, cfg kafka.Config) sarama.ClusterAdmin {
	t.Helper()
	sc := sarama.NewConfig()
	sc.Version = sarama.V2_1_0_0
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = admin.Close() })
	return admin
}
