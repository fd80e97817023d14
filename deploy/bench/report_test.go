package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// TestTableGolden prints a table of every benchmark's figures and compares
// it with testdata/table.golden.
func TestTableGolden(t *testing.T) {
	t.Parallel()
	var report table
	drain := drainResult{
		orders:  20000,
		elapsed: 4500 * time.Millisecond,
		services: []serviceDrain{
			{name: "inventory-service", group: "bench-drain-x-inventory-service", caughtUp: 4300 * time.Millisecond,
				topics: []string{"bench-drain-x-inventory-service-reservations", "new-order-topic"}, peakRSS: 120 << 20, cpu: 2100 * time.Millisecond},
			{name: "notification-service", group: "bench-drain-x-notification-service", caughtUp: 4400 * time.Millisecond,
				topics: []string{"inventory-empty-topic", "new-order-topic"}, peakRSS: 46<<20 + 600<<10, cpu: 900 * time.Millisecond},
			{name: "logging-service", group: "bench-drain-x-logging-service", caughtUp: 4500 * time.Millisecond,
				topics: []string{"new-logging-action-topic"}, peakRSS: 25 << 20, cpu: 700 * time.Millisecond},
		},
		want: inventoryEvents{updated: 40000, refills: 8888, empties: 8888},
		got:  inventoryEvents{updated: 40002, refills: 8888, empties: 8889},
	}
	report.addDrain(drain)
	report.addMemory(drain)
	report.addIngest(ingestResult{
		clients: 32, elapsed: 10010 * time.Millisecond, accepted: 48178, failed: 2,
		firstFailure: "POST /orders: 503 Service Unavailable",
		latency:      summary{n: 48178, p50: 6100 * time.Microsecond, p99: 16500 * time.Microsecond, max: 48300 * time.Microsecond},
		onTopic:      48178,
		serviceCPU:   9 * time.Second,
	})
	report.addLatency(latencyResult{
		rate:        5000,
		load:        loadStats{clients: 512, sent: 28454, accepted: 28454, skipped: 21528, elapsed: 10050 * time.Millisecond},
		tail:        102 * time.Millisecond,
		notified:    summary{n: 28454, p50: 112 * time.Millisecond, p99: 445 * time.Millisecond, max: 652 * time.Millisecond},
		inventoried: summary{n: 28450, p50: 509 * time.Millisecond, p99: 824 * time.Millisecond, max: 1002 * time.Millisecond},
	})
	report.addLatency(latencyResult{rate: 1000, load: loadStats{clients: 512, sent: 10, failed: 10, elapsed: 10 * time.Second}})

	var out bytes.Buffer
	if err := report.write(&out); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("table differs from %s (go test -update rewrites it):\n%s", golden, out.String())
	}
}

func TestFormats(t *testing.T) {
	t.Parallel()
	tests := []struct{ got, want string }{
		{count(0), "0"},
		{count(999), "999"},
		{count(1000), "1,000"},
		{count(20000), "20,000"},
		{count(1234567), "1,234,567"},
		{count(-1234), "-1,234"},
		{duration(850 * time.Microsecond), "850 µs"},
		{duration(12340 * time.Microsecond), "12.3 ms"},
		{duration(445 * time.Millisecond), "445 ms"},
		{duration(5250 * time.Millisecond), "5.25 s"},
		{perSecond(4439.6, "orders"), "4,440 orders/s"},
		{perSecond(5000, ""), "5,000/s"},
		{mebibytes(46<<20 + 600<<10), "46.6 MiB"},
		{latencies(summary{}), "no samples"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}
