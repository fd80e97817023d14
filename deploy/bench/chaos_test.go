package main

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// TestChaos runs every chaos scenario small, as `make chaos` runs them in
// full: on the embedded broker, or, when the suite runs against Apache Kafka
// (KAFKA_BROKERS set), on an Apache Kafka of its own that the outage can
// stop. Nothing may be lost and no promise broken; runChaos fails
// otherwise, and the table must show 0 lost in every row.
func TestChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the services as processes; skipped with -short")
	}
	bin := buildServices(t)
	broker := "embedded"
	if os.Getenv("KAFKA_BROKERS") != "" {
		broker = "kafka"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var out, progress bytes.Buffer
	err := runChaos(ctx, []string{
		"-broker", broker, "-bin", bin, "-kafka-script", "../kafka/kafka.sh",
		"-orders", "300", "-rate", "150", "-poison", "300", "-outage", "3s",
	}, &out, &progress)
	t.Logf("bench chaos:\n%s", out.String())
	if err != nil {
		t.Fatalf("%v\nprogress:\n%s", err, progress.String())
	}
	rows := 0
	for line := range strings.Lines(out.String()) {
		f := strings.Fields(line)
		if len(f) < 8 || f[1] != broker {
			continue
		}
		rows++
		if f[4] != "0" {
			t.Errorf("%s lost %s", f[0], f[4])
		}
	}
	if rows != len(chaosScenarios) {
		t.Errorf("%d rows in the table, want one per scenario (%d)", rows, len(chaosScenarios))
	}
}
