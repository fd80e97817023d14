package main

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// TestServesTopicsToAnOutsideClient starts devkafka on a free port and lists
// its topics with a plain sarama client, as any outside client would.
func TestServesTopicsToAnOutsideClient(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-partitions", "6"}, pw); pw.Close() }()

	addrRE := regexp.MustCompile(`KAFKA_BROKERS=(\S+)`)
	lines := bufio.NewScanner(pr)
	var addr string
	for addr == "" && lines.Scan() {
		if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatal("devkafka printed no KAFKA_BROKERS line")
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	sc := sarama.NewConfig()
	sc.Version = sarama.V4_0_0_0
	client, err := sarama.NewClient([]string{addr}, sc)
	if err != nil {
		t.Fatalf("connect to %s: %v", addr, err)
	}
	defer client.Close()
	topics, err := client.Topics()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range contracts.Topics() {
		if !slices.Contains(topics, want) {
			t.Errorf("topic %s missing; have %v", want, topics)
			continue
		}
		parts, err := client.Partitions(want)
		if err != nil || len(parts) != 6 {
			t.Errorf("topic %s: %d partitions (%v), want 6", want, len(parts), err)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("devkafka did not stop on cancel")
	}
}

func TestRejectsBadFlags(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"-partitions", "0"}, {"-addr", "nonsense"}, {"-nope"}} {
		if err := run(context.Background(), args, io.Discard); err == nil {
			t.Errorf("run(%v) = nil, want an error", args)
		}
	}
}
