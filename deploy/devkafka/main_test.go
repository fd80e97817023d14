package main

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"slices"
	"strings"
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
	go func() {
		err := run(ctx, []string{"-addr", "127.0.0.1:0", "-partitions", "6"}, pw)
		// The reader's scan then ends with run's error; CloseWithError
		// itself always returns nil.
		_ = pw.CloseWithError(err)
		done <- err
	}()

	addrRE := regexp.MustCompile(`KAFKA_BROKERS=(\S+)`)
	lines := bufio.NewScanner(pr)
	var addr string
	for addr == "" && lines.Scan() {
		if m := addrRE.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("devkafka printed no KAFKA_BROKERS line (%v)", lines.Err())
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
	for _, tc := range []struct {
		args []string
		want string // in the error
	}{
		{[]string{"-partitions", "0"}, "-partitions must be at least 1, got 0"},
		{[]string{"-partitions", "2147483648"}, "-partitions must be at most 2147483647, got 2147483648"},
		{[]string{"-addr", "nonsense"}, "nonsense"},
		{[]string{"-nope"}, "-nope"},
	} {
		// A run that wrongly accepts the flags serves until ctx ends, then
		// returns nil.
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		err := run(ctx, tc.args, io.Discard)
		cancel()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run(%v) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}
