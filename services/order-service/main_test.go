package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/eventshop/eventshop/api"
	"github.com/eventshop/eventshop/api/apicheck"
	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/pkg/service/servicetest"
)

const integrationTimeout = 30 * time.Second

// sampleWithoutID is the tutorial's sample order without an orderId, which
// the service then generates.
const sampleWithoutID = `{"customerId":"CUSTOMER-123","products":[` +
	`{"productId":"PRODUCT-123","quantity":3,"totalPrice":80},{"productId":"PRODUCT-321","quantity":1,"totalPrice":233}]}`

// postSample posts sampleWithoutID as JSON to POST /orders of the service
// at base (http://host:port) with client.
func postSample(ctx context.Context, client *http.Client, base string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/orders", strings.NewReader(sampleWithoutID))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return client.Do(req)
}

// checkedClient returns a client, sending through next (nil for
// http.DefaultTransport), every exchange of which must match
// api/openapi.yaml, or t fails.
func checkedClient(t *testing.T, next http.RoundTripper) *http.Client {
	t.Helper()
	docs, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: docs.Transport(t, next)}
}

// startService runs the service on the cluster kc, without the simulator
// and with any further flags in args, and returns it once /readyz answers,
// with the address it serves HTTP on.
func startService(t *testing.T, kc kafka.Config, args ...string) (*servicetest.Running, string) {
	t.Helper()
	addr := servicetest.FreeAddr(t)
	svc := servicetest.Start(t, run, append([]string{
		"--kafka-brokers", strings.Join(kc.Brokers, ","),
		"--http-addr", addr,
		"--simulator-interval", "0",
		"--topic-partitions", "3",
	}, args...)...)
	kafkatest.Eventually(t, integrationTimeout, func() bool {
		svc.FailIfExited(t)
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+addr+"/readyz", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := checkedClient(t, nil).Do(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "the service never became ready")
	return svc, addr
}

// TestRunPublishesAnOrderPostedOverHTTP runs the whole service on a broker
// and checks what one POST /orders puts on the two topics.
func TestRunPublishesAnOrderPostedOverHTTP(t *testing.T) {
	t.Parallel()
	kc := kafkatest.Config(t)
	svc, addr := startService(t, kc)
	svc.StopTimeout = integrationTimeout
	defer func() {
		if err := svc.Stop(); err != nil {
			t.Errorf("run after stop: %v, want nil after a graceful stop", err)
		}
	}()

	base := "http://" + addr

	// The container image's health check runs the binary like this.
	if err := run(t.Context(), []string{"healthcheck", "--http-addr", addr}, io.Discard); !errors.Is(err, service.ErrDone) {
		t.Errorf("healthcheck of the running service = %v, want service.ErrDone", err)
	}

	client := checkedClient(t, nil)
	resp, err := postSample(t.Context(), client, base)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST /orders = %d %s, want 202", resp.StatusCode, b)
	}
	var placed struct {
		OrderID string `json:"orderId"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&placed); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(placed.OrderID, "ORDER-") {
		t.Fatalf("orderId = %q, want a generated ORDER-...", placed.OrderID)
	}

	// The topics are the shop's own, which other tests and runs on a shared
	// cluster write to as well: pick this order's records out by key, and its
	// logging action by the correlation id the two share. 202 came after
	// Kafka acknowledged both, so reading each topic to its end sees them and
	// any copy of them.
	orderRecs := kafkatest.ReadToEnd(t, kc, contracts.TopicNewOrder,
		func(m *kafka.Message) bool { return string(m.Key) == placed.OrderID }, integrationTimeout)
	if len(orderRecs) != 1 {
		t.Fatalf("read %d records of this order, want 1", len(orderRecs))
	}
	order := orderRecs[0]
	corr := order.Header(contracts.HeaderCorrelationID)
	if corr == "" {
		t.Fatalf("order record has no %s header", contracts.HeaderCorrelationID)
	}
	actionRecs := kafkatest.ReadToEnd(t, kc, contracts.TopicNewLoggingAction,
		func(m *kafka.Message) bool { return m.Header(contracts.HeaderCorrelationID) == corr }, integrationTimeout)
	if len(actionRecs) != 1 {
		t.Fatalf("read %d logging actions of this order, want 1", len(actionRecs))
	}
	action := actionRecs[0]

	wantOrder := contracts.SampleOrder()
	wantOrder.OrderID = placed.OrderID
	if got, err := contracts.DecodeOrder(order.Value); err != nil || !reflect.DeepEqual(got, wantOrder) {
		t.Errorf("order record = %s (%v), want %+v", order.Value, err, wantOrder)
	}
	if got := string(action.Value); got != `{"serviceName":"order-service","action":"new-order"}` {
		t.Errorf("logging action record = %s", got)
	}

	for _, c := range []struct {
		name, got, want string
	}{
		{"order key", string(order.Key), placed.OrderID},
		{"order event-type", order.Header(contracts.HeaderEventType), contracts.EventTypeNewOrder},
		{"order source-service", order.Header(contracts.HeaderSourceService), "order-service"},
		{"action key", string(action.Key), "order-service"},
		{"action event-type", action.Header(contracts.HeaderEventType), contracts.EventTypeLoggingAction},
		{"action source-service", action.Header(contracts.HeaderSourceService), "order-service"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
}

// TestServedAnswersMatchOpenAPI asks the running service everything
// api/openapi.yaml says it answers, through a client that checks each
// exchange against the document, and that GET /openapi.yaml serves it.
func TestServedAnswersMatchOpenAPI(t *testing.T) {
	t.Parallel()
	svc, addr := startService(t, kafkatest.Config(t))
	svc.StopTimeout = integrationTimeout
	defer func() {
		if err := svc.Stop(); err != nil {
			t.Errorf("run after stop: %v", err)
		}
	}()
	client := checkedClient(t, nil)
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{http.MethodGet, "/openapi.yaml", "", http.StatusOK},
		{http.MethodGet, "/healthz", "", http.StatusOK},
		{http.MethodGet, "/readyz", "", http.StatusOK},
		{http.MethodGet, "/metrics", "", http.StatusOK},
		{http.MethodGet, "/orders", "", http.StatusMethodNotAllowed},
		{http.MethodDelete, "/openapi.yaml", "", http.StatusMethodNotAllowed},
		{http.MethodPost, "/orders", `{"customerId":"C","products":[]}`, http.StatusBadRequest},
		{http.MethodPost, "/orders", `{"customerId":"C","products":[{"productId":"P","quantity":1,"totalPrice":0}]}`, http.StatusAccepted},
	} {
		req, err := http.NewRequestWithContext(t.Context(), c.method, "http://"+addr+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.status {
			t.Errorf("%s %s = %d %s, want %d", c.method, c.path, resp.StatusCode, body, c.status)
		}
		if c.path == "/openapi.yaml" && c.status == http.StatusOK && string(body) != string(api.OpenAPI) {
			t.Errorf("GET /openapi.yaml served %d bytes, not api/openapi.yaml's %d", len(body), len(api.OpenAPI))
		}
	}
}
