package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/embedded"
)

// TestStopIsBoundedWhenTheBrokerFreezes: with the broker frozen (it takes
// connections and answers nothing, as under SIGSTOP), an order is refused
// with 503 after PUBLISH_TIMEOUT, and a stop still ends the service within
// SHUTDOWN_TIMEOUT, whatever the Kafka clients are waiting for. It needs a
// broker it can freeze, so it always runs on an embedded one.
func TestStopIsBoundedWhenTheBrokerFreezes(t *testing.T) {
	t.Parallel()
	broker, err := embedded.Start(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer broker.Close()
	defer broker.Thaw() // before Close, so that nothing waits on it
	const shutdownTimeout = 3 * time.Second
	svc, addr := startService(t, kafka.Config{Brokers: []string{broker.Addr()}},
		"--shutdown-timeout", shutdownTimeout.String(), "--publish-timeout", "2s")

	broker.Freeze()
	client := checkedClient(t, nil)
	client.Timeout = 15 * time.Second
	resp, err := postSample(t.Context(), client, "http://"+addr)
	if err != nil {
		t.Fatalf("POST /orders with the broker frozen: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("POST /orders with the broker frozen = %d, want 503", resp.StatusCode)
	}

	// Stop waits twice the shutdown timeout: a run that has not returned
	// by then is reported with Stop's own error.
	start := time.Now()
	svc.StopTimeout = 2 * shutdownTimeout
	err = svc.Stop()
	took := time.Since(start)
	t.Logf("run returned %v, %s after the stop", err, took.Round(time.Millisecond))
	if limit := shutdownTimeout + time.Second; took > limit {
		t.Fatalf("the stop took %s with the broker frozen, want it within SHUTDOWN_TIMEOUT (%s) and a second", took, shutdownTimeout)
	}
}
