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

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
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
		defer os.RemoveAll(dir)
		binDir = dir
		if err := buildAll(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		return m.Run()
	}())
}

// buildAll builds devkafka and the services into dir, with the race detector
// when this test binary has it, so races in the services fail the test too.
func buildAll(dir string) error {
	dirs := map[string]string{"devkafka": "../devkafka"}
	for _, s := range services {
		dirs[s] = filepath.Join("..", "..", "services", s)
	}
	for name, src := range dirs {
		args := []string{"build", "-o", filepath.Join(dir, name)}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, ".")...)
		cmd.Dir = src
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("build %s: %v\n%s", name, err, out)
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
	if kafkatest.External() {
		opts.externalKafka = true
		opts.kafkaAddr = kafkatest.Brokers(t)[0]
		p1, p2 = kafkatest.Name(t, "PRODUCT-123"), kafkatest.Name(t, "PRODUCT-321")
		opts.env["inventory-service"] = append(opts.env["inventory-service"], "INITIAL_STOCK="+p1+"=109,"+p2+"=109")
		for _, s := range []string{"inventory-service", "notification-service", "logging-service"} {
			opts.env[s] = append(opts.env[s], "CONSUMER_GROUP="+kafkatest.Name(t, s))
		}
	} else {
		opts.kafkaAddr = servicetest.FreeAddr(t)
	}

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
		kafkatest.Eventually(t, 90*time.Second, func() bool { return httpStatus(url) == http.StatusOK }, "%s not ready", url)
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
		status, resp := post(t, "http://"+httpAddr["order-service"]+"/orders", body)
		if status != http.StatusAccepted || !strings.Contains(resp, order.OrderID) {
			t.Fatalf("POST order %d: %d %s, want 202 with its orderId", i+1, status, resp)
		}
	}
	// An invalid order is refused and publishes nothing.
	status, resp := post(t, "http://"+httpAddr["order-service"]+"/orders",
		[]byte(`{"orderId":"ORDER-E2E-BAD","customerId":"C","products":[{"productId":"P","quantity":0,"totalPrice":1}]}`))
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

	// Wait for all of this run's records, then read each topic once more to
	// be sure there are no more of them than expected.
	isOursByCorrelation := func(m *kafka.Message) bool {
		_, ok := corr[m.Header(contracts.HeaderCorrelationID)]
		return ok
	}
	isOursApplied := func(m *kafka.Message) bool {
		return isOursByCorrelation(m) && !strings.Contains(string(m.Value), contracts.ActionInventoryUnknownProduct)
	}
	kafkatest.ReadMatching(t, kc, contracts.TopicNewLoggingAction, isOursApplied, 10, 60*time.Second)
	kafkatest.ReadMatching(t, kc, contracts.TopicInventoryEmpty, isOursByCorrelation, 1, 60*time.Second)
	actions := map[string]int{}
	for _, m := range kafkatest.ReadFor(t, kc, contracts.TopicNewLoggingAction, 3*time.Second) {
		if isOursByCorrelation(m) {
			a, err := contracts.DecodeLoggingAction(m.Value)
			if err != nil {
				t.Fatalf("logging record %s: %v", m.Value, err)
			}
			// On a shared cluster other tests' inventories read this run's
			// orders too, and report its products as unknown to them.
			if a.Action == contracts.ActionInventoryUnknownProduct {
				continue
			}
			actions[a.ServiceName+"/"+a.Action]++
		}
	}
	want := map[string]int{"order-service/new-order": 3, "inventory-service/inventory-updated": 6, "inventory-service/inventory-empty": 1}
	if fmt.Sprint(actions) != fmt.Sprint(want) {
		t.Errorf("logging actions = %v, want %v", actions, want)
	}
	var empties []string
	for _, m := range kafkatest.ReadFor(t, kc, contracts.TopicInventoryEmpty, 3*time.Second) {
		if isOursByCorrelation(m) {
			empties = append(empties, string(m.Value))
		}
	}
	if want := `{"productId":"` + p1 + `"}`; len(empties) != 1 || empties[0] != want {
		t.Errorf("inventory-empty records = %v, want one %s", empties, want)
	}

	// logging-service printed each of the ten actions.
	for action, n := range want {
		serviceName, act, _ := strings.Cut(action, "/")
		kafkatest.Eventually(t, 30*time.Second, func() bool {
			return countLogged(out, serviceName, act) >= n
		}, "logging-service printed %s fewer than %d times", action, n)
	}

	// Either inventory instance answers for both products, whichever owns them.
	wantStock := fmt.Sprintf(`{%q:109,%q:106}`, p1, p2)
	for _, addr := range []string{httpAddr["inventory-service"], secondInventory} {
		url := "http://" + addr + "/stock"
		kafkatest.Eventually(t, 30*time.Second, func() bool { return httpBody(url) == wantStock },
			"GET %s = %s, want %s", url, httpBody(url), wantStock)
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

// countLogged counts logging-service lines that record serviceName's action.
func countLogged(out *syncBuffer, serviceName, action string) int {
	n := 0
	for _, line := range out.linesOf("logging-service", "serviceName: "+serviceName) {
		if strings.Contains(line, "action: "+action) && !strings.Contains(line, "action: "+action+"-") {
			n++
		}
	}
	return n
}

// httpBody returns the body of a GET of url, trimmed, or "" on failure.
func httpBody(url string) string {
	resp, err := http.Get(url)
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b))
}

func httpStatus(url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func post(t *testing.T, url string, body []byte) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
