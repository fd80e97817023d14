package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// ingestResult is what the ingest benchmark measured.
type ingestResult struct {
	clients int
	// elapsed runs from the first request to the last answer.
	elapsed          time.Duration
	accepted, failed int
	firstFailure     string
	latency          summary
	// onTopic counts the accepted orders found on new-order-topic.
	onTopic int
	// serviceCPU is the CPU time order-service used while the clients ran.
	serviceCPU time.Duration
}

// runIngest posts sample orders to order-service from opts.clients clients,
// each sending its next order when the last is answered, for opts.duration.
func runIngest(ctx context.Context, opts options) (res ingestResult, err error) {
	tb, err := newTestbed(ctx, opts, "ingest")
	if err != nil {
		return res, err
	}
	defer func() { err = errors.Join(err, tb.close()) }()
	svc, err := tb.startService(ctx, contracts.ServiceOrder, "console", nil)
	if err != nil {
		return res, fmt.Errorf("ingest: %w", err)
	}
	if err := tb.waitReady(ctx, svc); err != nil {
		return res, fmt.Errorf("ingest: %w", err)
	}

	api := newOrderAPI(svc.httpAddr, tb.orderBody(), opts.clients)
	defer api.client.CloseIdleConnections()
	res.clients = opts.clients
	clients := make([]ingestClient, opts.clients)
	cpuBefore, err := svc.cpuTime()
	if err != nil {
		return res, fmt.Errorf("ingest: %w", err)
	}
	start := time.Now()
	deadline := start.Add(opts.duration)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() { clients[i].run(ctx, api, deadline) })
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	if err := ctx.Err(); err != nil {
		return res, err
	}
	cpuAfter, err := svc.cpuTime()
	if err != nil {
		return res, fmt.Errorf("ingest: %w", err)
	}
	res.serviceCPU = cpuAfter - cpuBefore

	var ids []string
	var lat []time.Duration
	for _, c := range clients {
		ids = append(ids, c.accepted...)
		lat = append(lat, c.latencies...)
		res.failed += c.failed
		if res.firstFailure == "" && c.firstFailure != nil {
			res.firstFailure = c.firstFailure.Error()
		}
	}
	res.accepted = len(ids)
	res.latency = summarize(lat)
	found, err := tb.findOrders(ctx, ids)
	if err != nil {
		return res, fmt.Errorf("ingest: %w", err)
	}
	res.onTopic = len(found)
	return res, nil
}

// ingestClient is one client of the ingest benchmark, and what it saw.
type ingestClient struct {
	accepted     []string
	latencies    []time.Duration
	failed       int
	firstFailure error
}

// run places orders one after the other until deadline.
func (c *ingestClient) run(ctx context.Context, api *orderAPI, deadline time.Time) {
	for ctx.Err() == nil && time.Now().Before(deadline) {
		t0 := time.Now()
		id, err := api.place(ctx)
		if err != nil {
			c.failed++
			if c.firstFailure == nil {
				c.firstFailure = err
			}
			continue
		}
		c.latencies = append(c.latencies, time.Since(t0))
		c.accepted = append(c.accepted, id)
	}
}

// orderAPI places orders through order-service's POST /orders.
type orderAPI struct {
	client *http.Client
	url    string
	body   []byte
}

// newOrderAPI returns an orderAPI for the service at addr that posts body,
// keeping up to conns connections open.
func newOrderAPI(addr string, body []byte, conns int) *orderAPI {
	transport := &http.Transport{
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
	return &orderAPI{
		client: &http.Client{Transport: transport, Timeout: 15 * time.Second},
		url:    "http://" + addr + "/orders",
		body:   body,
	}
}

// place posts one order and returns the orderId of a 202 answer.
func (a *orderAPI) place(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.url, bytes.NewReader(a.body))
	if err != nil {
		return "", fmt.Errorf("POST %s: %w", a.url, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := a.client.Do(req)
	if err != nil {
		return "", fmt.Errorf("POST /orders: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64*1024))
	if err != nil {
		return "", fmt.Errorf("POST /orders: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("POST /orders: %s %.100s", resp.Status, bytes.TrimSpace(body))
	}
	var placed struct {
		OrderID string `json:"orderId"`
	}
	if err := json.Unmarshal(body, &placed); err != nil || placed.OrderID == "" {
		return "", fmt.Errorf("POST /orders: 202 without an orderId: %.100s", body)
	}
	return placed.OrderID, nil
}

// orderBody is the tutorial's sample order, with this run's products and no
// orderId: order-service assigns one and answers with it.
func (tb *testbed) orderBody() []byte {
	o := tb.sampleOrder(0)
	body, _ := json.Marshal(struct {
		CustomerID string                `json:"customerId"`
		Products   []contracts.OrderLine `json:"products"`
	}{o.CustomerID, o.Products}) // cannot fail: strings and numbers
	return body
}

// findOrders reads new-order-topic from the testbed's start to its current
// end and returns the correlation id of each of ids found there, by order id.
func (tb *testbed) findOrders(ctx context.Context, ids []string) (map[string]string, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	ends, err := tb.cluster.endOffsets([]string{contracts.TopicNewOrder})
	if err != nil {
		return nil, err
	}
	found := make(map[string]string, len(ids))
	err = tb.cluster.scan(ctx, contracts.TopicNewOrder, tb.start[contracts.TopicNewOrder], ends[contracts.TopicNewOrder], 2*time.Minute,
		func(m *kafka.Message) {
			if id := string(m.Key); want[id] {
				found[id] = m.Header(contracts.HeaderCorrelationID)
			}
		})
	if err != nil {
		return nil, fmt.Errorf("find accepted orders on %s: %w", contracts.TopicNewOrder, err)
	}
	return found, nil
}
