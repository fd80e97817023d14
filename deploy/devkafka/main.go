// Command devkafka runs an embedded, in-memory Kafka-protocol broker for
// development: the whole system runs on a laptop with nothing but Go.
//
// It listens on 127.0.0.1:29092 by default, the address the Node.js tutorial
// and docker-compose.yml use, creates the shop's three topics and serves
// until interrupted. Any Kafka client can use it: sarama, kafkajs, kcat, the
// Java tools. Data lives in memory and is gone when it stops.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka/embedded"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "devkafka:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("devkafka", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:29092", "host:port to listen on (port 0 picks a free one)")
	partitions := fs.Int("partitions", 6, "partitions of each topic created at start")
	topics := fs.String("topics", strings.Join(contracts.Topics(), ","), "comma-separated topics to create at start")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *partitions < 1 {
		return fmt.Errorf("-partitions must be at least 1, got %d", *partitions)
	}
	if *partitions > math.MaxInt32 {
		return fmt.Errorf("-partitions must be at most %d, got %d", math.MaxInt32, *partitions)
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	var names []string
	for _, t := range strings.Split(*topics, ",") {
		if t = strings.TrimSpace(t); t != "" {
			names = append(names, t)
		}
	}
	b, err := embedded.Start(embedded.Options{Addr: *addr, Topics: names, Partitions: int32(*partitions)})
	if err != nil {
		return err
	}
	defer b.Close()

	fmt.Fprintf(out, "devkafka: embedded Kafka broker listening on %s\n", b.Addr())
	fmt.Fprintf(out, "devkafka: topics %s with %d partitions each\n", strings.Join(names, ", "), *partitions)
	fmt.Fprintf(out, "devkafka: KAFKA_BROKERS=%s (Ctrl-C to stop)\n", b.Addr())
	<-ctx.Done()
	fmt.Fprintln(out, "devkafka: stopping")
	return nil
}
