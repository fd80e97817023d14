// Command localrun runs the whole shop on one machine without Docker: the
// embedded Kafka broker (devkafka) and the four services as separate
// processes, each output line prefixed with the process's name, and serves a
// live view of the broker and the shop on http://localhost:8080. Ctrl-C
// stops the services, then the broker, and leaves no process behind.
//
// It runs the binaries that `make build` puts in bin/. Any setting of the
// services can be given in the environment, for example
// SIMULATOR_INTERVAL=1s make run. INVENTORY_INSTANCES=3 make run starts
// three inventory-service instances in one consumer group; the first serves
// HTTP on :8001, instance k on :801k.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventshop/eventshop/deploy/localrun/internal/liveview"
	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// services are started in this order, after the broker.
var services = []string{"inventory-service", "notification-service", "logging-service", "order-service"}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first Ctrl-C, signals get their default action again: a
	// second Ctrl-C ends localrun at once, and the kernel then terminates
	// the children (see sysProcAttr).
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "localrun:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("localrun", flag.ContinueOnError)
	opts := options{}
	fs.StringVar(&opts.bin, "bin", "bin", "directory holding devkafka and the service binaries")
	fs.StringVar(&opts.kafkaAddr, "kafka-addr", "127.0.0.1:29092", "address for the embedded broker")
	fs.DurationVar(&opts.grace, "grace", 20*time.Second, "how long each process may take to stop")
	fs.StringVar(&opts.liveAddr, "live-addr", "127.0.0.1:8080", "address for the live view of the broker and the shop; empty for none")
	instances := 1
	if v := os.Getenv("INVENTORY_INSTANCES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("INVENTORY_INSTANCES=%q: want a whole number of instances", v)
		}
		instances = n
	}
	fs.IntVar(&opts.inventoryInstances, "inventory-instances", instances, "inventory-service instances to run in one consumer group (default from INVENTORY_INSTANCES)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if opts.inventoryInstances < 1 || opts.inventoryInstances > 9 {
		return fmt.Errorf("inventory instances: want 1 to 9, got %d", opts.inventoryInstances)
	}
	opts.color = isTerminal(os.Stdout) && out == os.Stdout
	return runShop(ctx, opts, out)
}

// options says where the binaries are and how to run them.
type options struct {
	bin       string
	kafkaAddr string
	// externalKafka skips starting devkafka: kafkaAddr is a running cluster.
	externalKafka bool
	// env is extra environment for each service, by service name, after the
	// common KAFKA_BROKERS.
	env   map[string][]string
	grace time.Duration
	color bool
	// inventoryInstances is how many inventory-service processes to run.
	inventoryInstances int
	// inventoryAddr is the HTTP address of inventory instance k (2 and up);
	// nil means :801k.
	inventoryAddr func(k int) string
	// liveAddr is where the live view listens; empty means no live view.
	liveAddr string
}

// defaultHTTPAddr is each service's HTTP address when its environment does
// not set HTTP_ADDR.
var defaultHTTPAddr = map[string]string{
	"order-service":        ":8000",
	"inventory-service":    ":8001",
	"notification-service": ":8002",
	"logging-service":      ":8003",
}

// serviceURL returns the URL of path on the first instance of service.
func (o options) serviceURL(service, path string) string {
	addr := defaultHTTPAddr[service]
	for _, kv := range o.env[service] {
		if v, ok := strings.CutPrefix(kv, "HTTP_ADDR="); ok {
			addr = v
		}
	}
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port) + path
}

// liveView returns the live view of the shop that o runs.
func (o options) liveView() *liveview.Server {
	ready := map[string]string{}
	for _, s := range services {
		ready[s] = o.serviceURL(s, "/readyz")
	}
	return liveview.New(liveview.Config{
		Brokers:           []string{o.kafkaAddr},
		FlowTopics:        append(contracts.Topics(), kafka.DefaultDeadLetterTopic),
		OrderTopic:        contracts.TopicNewOrder,
		RefillTopic:       contracts.TopicInventoryEmpty,
		NotificationGroup: "notification-service-group",
		OrderURL:          o.serviceURL("order-service", "/orders"),
		StockURL:          o.serviceURL("inventory-service", "/stock"),
		ActionsURL:        o.serviceURL("logging-service", "/actions"),
		ReadyURLs:         ready,
		Interval:          time.Second,
	})
}

// processes returns the service processes to start, in order: name, binary
// and extra environment.
func (o options) processes() []process {
	var ps []process
	for _, name := range services {
		ps = append(ps, process{name: name, binary: name, env: o.env[name]})
		if name != "inventory-service" {
			continue
		}
		for k := 2; k <= o.inventoryInstances; k++ {
			addr := fmt.Sprintf(":%d", 8010+k)
			if o.inventoryAddr != nil {
				addr = o.inventoryAddr(k)
			}
			env := append(slices.Clone(o.env[name]), "HTTP_ADDR="+addr)
			ps = append(ps, process{name: fmt.Sprintf("%s-%d", name, k), binary: name, env: env})
		}
	}
	return ps
}

type process struct {
	name, binary string
	env          []string
}

func runShop(ctx context.Context, opts options, out io.Writer) error {
	names := services
	if !opts.externalKafka {
		names = append([]string{"devkafka"}, services...)
	}
	for _, name := range names {
		if _, err := os.Stat(filepath.Join(opts.bin, name)); err != nil {
			return fmt.Errorf("%s not found in %s: run `make build` first", name, opts.bin)
		}
	}

	w := &lineWriter{out: out, width: len("notification-service"), color: opts.color}
	var live net.Listener
	if opts.liveAddr != "" {
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", opts.liveAddr)
		if err != nil {
			return fmt.Errorf("cannot serve the live view on %s, is the port taken? (-live-addr= for none): %w", opts.liveAddr, err)
		}
		live = ln
		defer ln.Close() // if the shop does not start
	}
	var procs []*proc
	if !opts.externalKafka {
		// Another broker on the port (an earlier run, docker compose's Kafka)
		// would answer in devkafka's place: refuse rather than use it.
		var lc net.ListenConfig
		ln, err := lc.Listen(ctx, "tcp", opts.kafkaAddr)
		if err != nil {
			return fmt.Errorf("cannot start devkafka on %s, is the port taken? %w", opts.kafkaAddr, err)
		}
		ln.Close()
		broker, err := start(0, "devkafka", filepath.Join(opts.bin, "devkafka"), []string{"-addr", opts.kafkaAddr}, nil, w)
		if err != nil {
			return err
		}
		procs = append(procs, broker)
		if err := waitListening(ctx, opts.kafkaAddr, broker, 15*time.Second); err != nil {
			return errors.Join(err, stopAll(procs, opts.grace, !opts.externalKafka))
		}
	}

	for i, sp := range opts.processes() {
		env := append([]string{"KAFKA_BROKERS=" + opts.kafkaAddr}, sp.env...)
		p, err := start(i+1, sp.name, filepath.Join(opts.bin, sp.binary), nil, env, w)
		if err != nil {
			return errors.Join(err, stopAll(procs, opts.grace, !opts.externalKafka))
		}
		procs = append(procs, p)
	}
	w.write(0, "localrun", "all started: POST http://localhost:8000/orders, GET http://localhost:8001/stock; Ctrl-C stops everything")

	// The live view stops first, so that it does not show the shop going
	// down as failures.
	liveCtx, stopLive := context.WithCancel(ctx)
	defer stopLive()
	liveDone := make(chan struct{})
	if live != nil {
		w.write(0, "localrun", "live view: http://"+live.Addr().String())
		go func() {
			defer close(liveDone)
			if err := opts.liveView().Serve(liveCtx, live); err != nil {
				w.write(0, "localrun", "live view stopped: "+err.Error())
			}
		}()
	} else {
		close(liveDone)
	}

	var runErr error
	if p := waitAny(ctx, procs); p != nil {
		runErr = fmt.Errorf("%s exited unexpectedly: %w", p.name, p.exitStatus())
	}
	w.write(0, "localrun", "stopping")
	stopLive()
	<-liveDone
	if err := stopAll(procs, opts.grace, !opts.externalKafka); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// waitListening waits until addr accepts connections, failing early if the
// broker process exits (its port may be taken).
func waitListening(ctx context.Context, addr string, p *proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	dialer := net.Dialer{Timeout: 200 * time.Millisecond}
	for {
		conn, err := dialer.DialContext(ctx, "tcp", addr)
		if err == nil {
			conn.Close()
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("devkafka exited before listening on %s (is the port taken?): %w", addr, p.exitStatus())
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("devkafka not listening on %s after %s", addr, timeout)
		}
	}
}
