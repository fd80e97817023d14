package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventshop/eventshop/api/apicheck"
	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/metricstest"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/pkg/service/servicetest"
)

// binDir holds the binaries TestMain builds: the same ones `make run` runs.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(func() int {
		dir, err := os.MkdirTemp("", "eventshop-e2e-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer func() {
			if err := os.RemoveAll(dir); err != nil {
				fmt.Fprintln(os.Stderr, err)
			}
		}()
		binDir = dir
		if err := buildAll(context.Background(), dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// buildAll builds devkafka and the services into dir, with the race detector
// when this test binary has it, so races in the services fail the test too.
func buildAll(ctx context.Context, dir string) error {
	dirs := map[string]string{"devkafka": "../devkafka"}
	for _, s := range services {
		dirs[s] = filepath.Join("..", "..", "services", s)
	}
	for name, src := range dirs {
		args := []string{"build", "-o", filepath.Join(dir, name)}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.CommandContext(ctx, "go", append(args, ".")...)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %w\n%s", name, err, out)
		}
	}
	return nil
}

// syncBuffer collects the shop's output from many goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// linesOf returns the output lines of one process that contain text.
func (b *syncBuffer) linesOf(process, text string) []string {
	var out []string
	for _, line := range strings.Split(b.String(), "\n") {
		if strings.HasPrefix(line, process+" ") && strings.Contains(line, text) {
			out = append(out, line)
		}
	}
	return out
}

// TestShopEndToEnd runs the broker and the four services as processes, the
// way `make run` does, and follows the tutorial's flow through them: three
// sample orders over HTTP, and what every topic and every service shows.
func TestShopEndToEnd(t *testing.T) {
	// Two inventory instances, as INVENTORY_INSTANCES=2 make run starts
	// them: the tutorial's sequence must come out the same.
	opts := options{bin: binDir, grace: 20 * time.Second, env: map[string][]string{}, inventoryInstances: 2}
	httpAddr := map[string]string{}
	for _, s := range services {
		httpAddr[s] = servicetest.FreeAddr(t)
		opts.env[s] = []string{"HTTP_ADDR=" + httpAddr[s], "SIMULATOR_INTERVAL=0", "LOG_LEVEL=info"}
	}
	secondInventory := servicetest.FreeAddr(t)
	opts.inventoryAddr = func(int) string { return secondInventory }
	// The tutorial's products, on a broker of our own. On a shared cluster
	// (KAFKA_BROKERS) other tests and runs write to the same topics, so there
	// the products and consumer groups are this run's own: orders of others
	// name products this inventory does not hold.
	p1, p2 := "PRODUCT-123", "PRODUCT-321"
	groups := map[string]string{
		"inventory-service": "inventory-service-group", "notification-service": "notification-service-group",
		"logging-service": "logging-service-group",
	}
	if kafkatest.External() {
		opts.externalKafka = true
		opts.kafkaAddr = kafkatest.Brokers(t)[0]
		p1, p2 = kafkatest.Name(t, "PRODUCT-123"), kafkatest.Name(t, "PRODUCT-321")
		opts.env["inventory-service"] = append(opts.env["inventory-service"], "INITIAL_STOCK="+p1+"=109,"+p2+"=109")
		for s := range groups {
			groups[s] = kafkatest.Name(t, s)
			opts.env[s] = append(opts.env[s], "CONSUMER_GROUP="+groups[s])
		}
	} else {
		opts.kafkaAddr = servicetest.FreeAddr(t)
	}

	// Every HTTP exchange must match api/openapi.yaml.
	docs, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: docs.Transport(t, nil)}

	out := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runShop(ctx, opts, out) }()
	defer func() {
		if t.Failed() {
			t.Logf("output of the shop:\n%s", out.String())
		}
	}()

	for _, addr := range append(slices.Collect(maps.Values(httpAddr)), secondInventory) {
		url := "http://" + addr + "/readyz"
		kafkatest.Eventually(t, 90*time.Second, func() bool { return httpStatus(t.Context(), client, url) == http.StatusOK }, "%s not ready", url)
	}

	// The tutorial's sample order, three times, under ids of this run so that
	// the test also holds on a shared cluster that has seen other runs.
	run := time.Now().UnixNano()
	orderIDs := make([]string, 3)
	for i := range orderIDs {
		order := contracts.SampleOrder()
		order.OrderID = fmt.Sprintf("ORDER-E2E-%d-%d", run, i+1)
		order.Products[0].ProductID, order.Products[1].ProductID = p1, p2
		orderIDs[i] = order.OrderID
		body, _ := json.Marshal(order)
		status, resp := post(t, client, "http://"+httpAddr["order-service"]+"/orders", body)
		if status != http.StatusAccepted || !strings.Contains(resp, order.OrderID) {
			t.Fatalf("POST order %d: %d %s, want 202 with its orderId", i+1, status, resp)
		}
	}
	// An invalid order is refused; that it published nothing is checked on
	// every topic at the end.
	badID := fmt.Sprintf("ORDER-E2E-%d-BAD", run)
	status, resp := post(t, client, "http://"+httpAddr["order-service"]+"/orders",
		[]byte(`{"orderId":"`+badID+`","customerId":"C","products":[{"productId":"P","quantity":0,"totalPrice":1}]}`))
	if status != http.StatusBadRequest || !strings.Contains(resp, "products[0].quantity") {
		t.Fatalf("POST invalid order: %d %s, want 400 naming products[0].quantity", status, resp)
	}

	// What the services print.
	for _, id := range orderIDs {
		want := fmt.Sprintf("Congrats CUSTOMER-123, your order %s has been approved!", id)
		kafkatest.Eventually(t, 60*time.Second, func() bool { return len(out.linesOf("notification-service", want)) == 1 },
			"notification-service did not print %q once", want)
	}
	refill := "Product " + p1 + " has to be REFILLED!"
	kafkatest.Eventually(t, 60*time.Second, func() bool { return len(out.linesOf("notification-service", refill)) == 1 },
		"notification-service did not print %q once", refill)

	// What is on the topics, counted by the correlation ids of this run's orders.
	kc := kafka.DefaultConfig(opts.kafkaAddr)
	// This run's orders, found by their keys: on a shared cluster the topic
	// holds other runs' records too, poison ones included.
	isOurs := func(m *kafka.Message) bool { return slices.Contains(orderIDs, string(m.Key)) }
	orders := kafkatest.ReadMatching(t, kc, contracts.TopicNewOrder, isOurs, 3, 60*time.Second)
	corr := map[string]string{} // correlation id -> order id
	for _, m := range orders {
		o, err := contracts.DecodeOrder(m.Value)
		if err != nil {
			t.Fatalf("new-order-topic record %s: %v", m.Value, err)
		}
		if o.OrderID != string(m.Key) {
			t.Errorf("order %s has key %q", o.OrderID, m.Key)
		}
		corr[m.Header(contracts.HeaderCorrelationID)] = o.OrderID
	}
	if len(corr) != 3 {
		t.Fatalf("this run's 3 orders carry %d distinct correlation ids, want 3", len(corr))
	}

	// Wait for all of this run's records; they are counted exactly once
	// every group has caught up.
	isOursByCorrelation := func(m *kafka.Message) bool {
		_, ok := corr[m.Header(contracts.HeaderCorrelationID)]
		return ok
	}
	isOursApplied := func(m *kafka.Message) bool {
		return isOursByCorrelation(m) && !strings.Contains(string(m.Value), contracts.ActionInventoryUnknownProduct)
	}
	kafkatest.ReadMatching(t, kc, contracts.TopicNewLoggingAction, isOursApplied, 10, 60*time.Second)
	kafkatest.ReadMatching(t, kc, contracts.TopicInventoryEmpty, isOursByCorrelation, 1, 60*time.Second)
	want := map[string]int{"order-service/new-order": 3, "inventory-service/inventory-updated": 6, "inventory-service/inventory-empty": 1}
	for action, n := range want {
		serviceName, act, _ := strings.Cut(action, "/")
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			return countLogged(out, serviceName, act, corr) >= n
		}, "logging-service printed %s fewer than %d times", action, n)
	}

	// Either inventory instance answers for both products, whichever owns them.
	wantStock := fmt.Sprintf(`{%q:109,%q:106}`, p1, p2)
	for _, addr := range []string{httpAddr["inventory-service"], secondInventory} {
		url := "http://" + addr + "/stock"
		kafkatest.Eventually(t, 30*time.Second, func() bool { return httpBody(t.Context(), client, url) == wantStock },
			"GET %s = %s, want %s", url, httpBody(t.Context(), client, url), wantStock)
	}

	// What every service's /metrics says: the records it was sent, each
	// counted once, and no lag left.
	scrape := map[string]string{"inventory-service#2": "http://" + secondInventory + "/metrics"}
	for _, s := range services {
		scrape[s] = "http://" + httpAddr[s] + "/metrics"
	}
	var problems []string
	kafkatest.Eventually(t, 30*time.Second, func() bool {
		problems = metricsProblems(t.Context(), scrape, p1, p2, !opts.externalKafka)
		return len(problems) == 0
	}, "the metrics do not add up:\n%v", stringer(func() string { return strings.Join(problems, "\n") }))

	// A record that breaks the contract: each group that reads
	// new-order-topic parks it on dead-letter-topic.
	poisonKey := fmt.Sprintf("ORDER-E2E-%d-POISON", run)
	kafkatest.NewPublisher(t, kc).PublishInOrder(t.Context(), kafka.Record{
		Topic: contracts.TopicNewOrder, Key: []byte(poisonKey),
		Value: []byte(`{"orderId":"` + poisonKey + `","customerId":"C","products":[]}`),
	})
	isPoison := func(m *kafka.Message) bool { return string(m.Key) == poisonKey }
	kafkatest.ReadMatching(t, kc, kafka.DefaultDeadLetterTopic, isPoison, 2, 60*time.Second)

	// Every group has caught up (lag 0) and the poison record is parked:
	// read every topic to its end. Every record, the inventory's internal
	// ones and the dead letters included, matches api/asyncapi.yaml: its
	// value, its key and its headers (on a shared cluster, this run's). None
	// holds the invalid order, and this run's are there exactly as often as
	// expected.
	inventoryGroup := groups["inventory-service"]
	onTopic := map[string][]*kafka.Message{} // this run's records
	ours := map[string]func(*kafka.Message) bool{
		contracts.TopicNewOrder:         isOurs,
		contracts.TopicInventoryEmpty:   isOursByCorrelation,
		contracts.TopicNewLoggingAction: isOursByCorrelation,
		kafka.DefaultDeadLetterTopic:    isPoison,
	}
	for _, topic := range []string{
		contracts.TopicNewOrder, contracts.TopicInventoryEmpty, contracts.TopicNewLoggingAction, kafka.DefaultDeadLetterTopic,
		inventoryGroup + "-reservations", inventoryGroup + "-stock-changelog", inventoryGroup + "-applied-orders-changelog",
	} {
		checked := 0
		for _, m := range kafkatest.ReadToEnd(t, kc, topic, func(*kafka.Message) bool { return true }, 60*time.Second) {
			if bytes.Contains(m.Key, []byte(badID)) || bytes.Contains(m.Value, []byte(badID)) {
				t.Errorf("record %s/%d@%d holds the invalid order %s: %s", topic, m.Partition, m.Offset, badID, m.Value)
			}
			if topic == contracts.TopicNewOrder && isPoison(m) {
				continue // it breaks the contract on purpose
			}
			if match := ours[topic]; match != nil && match(m) {
				onTopic[topic] = append(onTopic[topic], m)
			} else if match != nil && opts.externalKafka {
				continue // another run's
			}
			checked++
			if err := docs.CheckRecord(topic, m.Key, m.Headers, m.Value); err != nil {
				t.Errorf("record %s/%d@%d: %v", topic, m.Partition, m.Offset, err)
			}
		}
		if checked == 0 {
			t.Errorf("no record on %s to check against asyncapi.yaml", topic)
		}
		t.Logf("%s: %d records checked against asyncapi.yaml", topic, checked)
	}

	if n := len(onTopic[contracts.TopicNewOrder]); n != 3 {
		t.Errorf("%d records of this run's orders on %s, want 3", n, contracts.TopicNewOrder)
	}
	actions := map[string]int{}
	for _, m := range onTopic[contracts.TopicNewLoggingAction] {
		a, err := contracts.DecodeLoggingAction(m.Value)
		if err != nil {
			t.Fatalf("logging record %s: %v", m.Value, err)
		}
		// On a shared cluster other tests' inventories read this run's
		// orders too, and report its products as unknown to them.
		if a.Action != contracts.ActionInventoryUnknownProduct {
			actions[a.ServiceName+"/"+a.Action]++
		}
	}
	if !maps.Equal(actions, want) {
		t.Errorf("logging actions = %v, want %v", actions, want)
	}
	var empties []string
	for _, m := range onTopic[contracts.TopicInventoryEmpty] {
		empties = append(empties, string(m.Value))
	}
	if want := `{"productId":"` + p1 + `"}`; len(empties) != 1 || empties[0] != want {
		t.Errorf("inventory-empty records = %v, want one %s", empties, want)
	}
	parkedBy := map[string]int{}
	for _, m := range onTopic[kafka.DefaultDeadLetterTopic] {
		parkedBy[m.Header(kafka.HeaderDLTConsumerGroup)]++
	}
	if wantParked := map[string]int{groups["inventory-service"]: 1, groups["notification-service"]: 1}; !maps.Equal(parkedBy, wantParked) {
		t.Errorf("the poison record was dead-lettered %v times by each group, want %v", parkedBy, wantParked)
	}
	// logging-service printed each of the ten actions once.
	for action, n := range want {
		serviceName, act, _ := strings.Cut(action, "/")
		if got := countLogged(out, serviceName, act, corr); got != n {
			t.Errorf("logging-service printed %s %d times, want %d", action, got, n)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("stopping the shop: %v", err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("the shop did not stop")
	}
}

// metricsProblems scrapes each service's /metrics (by name) and returns what
// does not match the three sample orders of TestShopEndToEnd, whose
// products are p1 and p2: each count as the records sent, and the lag 0 on
// every partition each consumer group reads. With exact false (a shared
// cluster, whose topics hold other runs' records) the counts of consumed
// records need only be at least those.
func metricsProblems(ctx context.Context, scrape map[string]string, p1, p2 string, exact bool) []string {
	var problems []string
	m := map[string]metricstest.Metrics{}
	for name, url := range scrape {
		got, err := metricstest.TryScrape(ctx, url)
		if err != nil {
			return []string{err.Error()}
		}
		m[name] = got
	}
	// sum adds up a metric over the given services.
	sum := func(names []string, metric string, match ...string) float64 {
		total := 0.0
		for _, n := range names {
			total += m[n].Sum(metric, match...)
		}
		return total
	}
	want := func(what string, got, want float64, consumed bool) {
		if got != want && (exact || !consumed || got < want) {
			problems = append(problems, fmt.Sprintf("%s = %g, want %g", what, got, want))
		}
	}
	inventory := []string{"inventory-service", "inventory-service#2"}
	all := append([]string{"inventory-service#2"}, services...)
	// The group of each consumer, as its metrics name it.
	groupOf := func(name string) string {
		for _, s := range m[name]["eventshop_consumer_assigned_partitions"] {
			return s.Labels["group"]
		}
		return "(none)"
	}

	// order-service: three orders over HTTP, one refused.
	order := []string{"order-service"}
	want("orders placed over HTTP", sum(order, "eventshop_orders_placed_total", "source", "http"), 3, false)
	want("POST /orders answered 202", sum(order, "eventshop_http_requests_total", "route", "POST /orders", "code", "202"), 3, false)
	want("POST /orders answered 400", sum(order, "eventshop_http_requests_total", "route", "POST /orders", "code", "400"), 1, false)
	want("records order-service published to new-order-topic",
		sum(order, "eventshop_producer_records_total", "topic", contracts.TopicNewOrder), 3, false)

	// Each group handled every record of its topics once, and parked none.
	ok := func(names []string, topic string) float64 {
		return sum(names, "eventshop_consumer_records_total", "group", groupOf(names[0]), "topic", topic, "outcome", kafka.OutcomeOK)
	}
	want("orders inventory-service handled", ok(inventory, contracts.TopicNewOrder), 3, true)
	reservations := groupOf("inventory-service") + "-reservations"
	want("reservations inventory-service handled, as many as it published", ok(inventory, reservations),
		sum(inventory, "eventshop_producer_records_total", "topic", reservations), true)
	notification := []string{"notification-service"}
	want("orders notification-service handled", ok(notification, contracts.TopicNewOrder), 3, true)
	want("inventory-empty events notification-service handled", ok(notification, contracts.TopicInventoryEmpty), 1, true)
	logging := []string{"logging-service"}
	want("logging actions logging-service handled", ok(logging, contracts.TopicNewLoggingAction), 10, true)
	want("records dead-lettered", sum(all, "eventshop_consumer_records_total", "outcome", kafka.OutcomeDeadLettered), 0, true)

	// What the services did with them.
	want("order-approved notifications", sum(notification, "eventshop_notifications_sent_total", "kind", "order-approved"), 3, true)
	want("refill-needed notifications", sum(notification, "eventshop_notifications_sent_total", "kind", "refill-needed"), 1, true)
	for _, a := range []struct {
		service, action string
		n               float64
	}{
		{"order-service", contracts.ActionNewOrder, 3},
		{"inventory-service", contracts.ActionInventoryUpdated, 6},
		{"inventory-service", contracts.ActionInventoryEmpty, 1},
	} {
		want(fmt.Sprintf("logging actions %s/%s", a.service, a.action),
			sum(logging, "eventshop_logging_actions_total", "service", a.service, "action", a.action), a.n, true)
	}
	// Either inventory instance reports every product.
	for _, name := range inventory {
		for _, p := range []struct {
			metric, product string
			n               float64
		}{
			{"eventshop_stock_items", p1, 109}, {"eventshop_stock_items", p2, 106},
			{"eventshop_inventory_empty_total", p1, 1}, {"eventshop_inventory_empty_total", p2, 0},
		} {
			want(fmt.Sprintf("%s %s{product=%s}", name, p.metric, p.product), m[name].Sum(p.metric, "product", p.product), p.n, false)
		}
	}

	// No lag, on every partition of every topic each group reads: each
	// partition has its series, in one member of the group.
	partitions := float64(service.DefaultBase("").TopicPartitions)
	for _, g := range []struct {
		names  []string
		topics []string
	}{
		{inventory, []string{contracts.TopicNewOrder, reservations}},
		{notification, []string{contracts.TopicNewOrder, contracts.TopicInventoryEmpty}},
		{logging, []string{contracts.TopicNewLoggingAction}},
	} {
		for _, topic := range g.topics {
			series := 0
			for _, n := range g.names {
				for _, s := range m[n].Series("eventshop_consumer_lag_records", "group", groupOf(n), "topic", topic) {
					series++
					if s.Value != 0 {
						problems = append(problems, fmt.Sprintf("%s: lag of %s/%s = %g, want 0", n, topic, s.Labels["partition"], s.Value))
					}
				}
			}
			want(fmt.Sprintf("partitions of %s with a lag in group %s", topic, groupOf(g.names[0])), float64(series), partitions, false)
		}
	}
	return problems
}

// stringer formats as what f returns when the message is printed.
type stringer func() string

func (f stringer) String() string { return f() }

// countLogged counts logging-service lines that record serviceName's action
// under one of the correlation ids in corr: on a shared cluster it prints
// other runs' actions too.
func countLogged(out *syncBuffer, serviceName, action string, corr map[string]string) int {
	n := 0
	for _, line := range out.linesOf("logging-service", "serviceName: "+serviceName) {
		if !strings.Contains(line, "action: "+action) || strings.Contains(line, "action: "+action+"-") {
			continue
		}
		for id := range corr {
			if strings.Contains(line, id) {
				n++
				break
			}
		}
	}
	return n
}

// httpBody returns the body of a GET of url, trimmed, or "" on failure.
func httpBody(ctx context.Context, client *http.Client, url string) string {
	resp, err := get(ctx, client, url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func httpStatus(ctx context.Context, client *http.Client, url string) int {
	resp, err := get(ctx, client, url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func get(ctx context.Context, client *http.Client, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return client.Do(req)
}

func post(t *testing.T, client *http.Client, url string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
