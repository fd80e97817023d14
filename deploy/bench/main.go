// Command bench measures the shop on this machine and prints a table: how
// fast the consumers drain a backlog of orders and how much memory they take
// doing it (drain, memory), how many orders per second order-service accepts
// over HTTP (ingest), and how long an accepted order takes to reach
// notification-service and, through inventory-service, logging-service
// (latency). A last line names the machine, the Go release and the broker.
//
// The services are black boxes: the binaries `make build` puts in bin/, run
// as processes and configured through the environment, observed only through
// Kafka (records, consumer group offsets), HTTP and their log output. Each
// benchmark runs on a fresh embedded broker, or, with -brokers or
// KAFKA_BROKERS, on that cluster with consumer groups, order ids and products
// of its own, counting from the offsets at its start. Every process it starts
// is stopped when it ends, on Ctrl-C too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// After the first Ctrl-C the harness stops its processes; a second one
	// ends it at once, and the kernel then terminates the children.
	context.AfterFunc(ctx, stop)
	run := run
	if len(os.Args) > 1 && os.Args[1] == "chaos" {
		run = func(ctx context.Context, args []string, out io.Writer) error {
			return runChaos(ctx, args[1:], out, os.Stderr)
		}
	}
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		if ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = errors.New("interrupted; every process it started is stopped")
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// The benchmarks -only can name.
const (
	benchDrain   = "drain"
	benchMemory  = "memory"
	benchIngest  = "ingest"
	benchLatency = "latency"
)

var benchmarks = []string{benchDrain, benchMemory, benchIngest, benchLatency}

// options are the command line's settings.
type options struct {
	brokers  []string // empty: an embedded broker per benchmark
	orders   int
	clients  int
	rates    []int
	duration time.Duration
	bin      string
	only     []string
	// cpuProfile, if set, is where the harness writes its own CPU profile,
	// the embedded broker's included.
	cpuProfile string
}

// external reports whether the benchmarks run on a cluster given to them.
func (o options) external() bool { return len(o.brokers) > 0 }

// runs reports whether the benchmark called name was selected.
func (o options) runs(name string) bool { return slices.Contains(o.only, name) }

// run parses args, runs the selected benchmarks and prints the table and the
// machine line to out, also after a failure or Ctrl-C for what was measured.
func run(ctx context.Context, args []string, out io.Writer) (err error) {
	opts, err := parseOptions(args, os.Stderr)
	if err != nil {
		return err
	}
	if err := checkBinaries(opts); err != nil {
		return err
	}
	if opts.cpuProfile != "" {
		f, createErr := os.Create(opts.cpuProfile)
		if createErr != nil {
			return createErr
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return errors.Join(err, f.Close())
		}
		// The profile is written as the harness stops; a failed Close can
		// lose its end.
		defer func() {
			pprof.StopCPUProfile()
			if closeErr := f.Close(); closeErr != nil {
				err = errors.Join(err, fmt.Errorf("cpu profile: %w", closeErr))
			}
		}()
	}
	report := &table{}
	runErr := runBenchmarks(ctx, opts, report, os.Stderr)
	if len(report.rows) == 0 {
		return runErr
	}
	if err := report.write(out); err != nil {
		return errors.Join(runErr, err)
	}
	fmt.Fprintln(out, describeMachine(brokerName(opts)))
	return runErr
}

// runBenchmarks runs each selected benchmark in turn, adding its figures to
// report and saying on progress what it is doing.
func runBenchmarks(ctx context.Context, opts options, report *table, progress io.Writer) error {
	if opts.runs(benchDrain) || opts.runs(benchMemory) {
		fmt.Fprintf(progress, "bench: drain: %s orders ...\n", count(opts.orders))
		r, err := runDrain(ctx, opts)
		if err != nil {
			return err
		}
		if opts.runs(benchDrain) {
			report.addDrain(r)
		}
		if opts.runs(benchMemory) {
			report.addMemory(r)
		}
	}
	if opts.runs(benchIngest) {
		fmt.Fprintf(progress, "bench: ingest: %d clients for %s ...\n", opts.clients, opts.duration)
		r, err := runIngest(ctx, opts)
		if err != nil {
			return err
		}
		report.addIngest(r)
	}
	if opts.runs(benchLatency) {
		for _, rate := range opts.rates {
			fmt.Fprintf(progress, "bench: latency: %d orders/s for %s ...\n", rate, opts.duration)
			r, err := runLatency(ctx, opts, rate)
			if err != nil {
				return err
			}
			report.addLatency(r)
		}
	}
	return nil
}

// parseOptions reads the command line, with usage and errors going to
// errOut.
func parseOptions(args []string, errOut io.Writer) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var (
		opts    options
		brokers = fs.String("brokers", os.Getenv("KAFKA_BROKERS"), "comma-separated Kafka brokers to run on (default KAFKA_BROKERS; empty: an embedded broker per benchmark)")
		rates   = &rateList{}
		only    = fs.String("only", strings.Join(benchmarks, ","), "comma-separated benchmarks to run: "+strings.Join(benchmarks, ", "))
	)
	fs.IntVar(&opts.orders, "orders", 20000, "orders the drain benchmark puts on new-order-topic")
	fs.IntVar(&opts.clients, "clients", 32, "concurrent clients of the ingest benchmark")
	fs.Var(rates, "rate", "orders per second of the latency benchmark; repeat the flag or give a list (default 5000,1000)")
	fs.DurationVar(&opts.duration, "duration", 10*time.Second, "how long the ingest and latency benchmarks post orders")
	fs.StringVar(&opts.bin, "bin", "bin", "directory holding the service binaries (make build)")
	fs.StringVar(&opts.cpuProfile, "cpuprofile", "", "write the harness's CPU profile, the embedded broker's included, to this file")
	if err := fs.Parse(args); err != nil {
		return opts, err
	}
	if fs.NArg() > 0 {
		return opts, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	opts.brokers = splitList(*brokers)
	opts.only = splitList(*only)
	opts.rates = rates.values
	if len(opts.rates) == 0 {
		opts.rates = []int{5000, 1000}
	}
	return opts, opts.validate()
}

// validate reports every invalid setting.
func (o options) validate() error {
	var errs []error
	if o.orders < 1 {
		errs = append(errs, fmt.Errorf("-orders: must be at least 1, got %d", o.orders))
	}
	if o.clients < 1 {
		errs = append(errs, fmt.Errorf("-clients: must be at least 1, got %d", o.clients))
	}
	if o.duration <= 0 {
		errs = append(errs, fmt.Errorf("-duration: must be positive, got %s", o.duration))
	}
	errs = append(errs, checkOnly(o.only, benchmarks, "benchmark")...)
	return errors.Join(errs...)
}

// checkOnly reports each of the names -only gave that is not one of known,
// and a -only that names none: a benchmark or scenario, as kind says.
func checkOnly(names, known []string, kind string) []error {
	var errs []error
	for _, name := range names {
		if !slices.Contains(known, name) {
			errs = append(errs, fmt.Errorf("-only: unknown %s %q (want %s)", kind, name, strings.Join(known, ", ")))
		}
	}
	if len(names) == 0 {
		errs = append(errs, fmt.Errorf("-only: name at least one %s", kind))
	}
	return errs
}

// rateList is the -rate flag: repeatable, each a number or a comma-separated
// list of numbers.
type rateList struct{ values []int }

func (r *rateList) String() string {
	if r == nil {
		return ""
	}
	s := make([]string, len(r.values))
	for i, v := range r.values {
		s[i] = strconv.Itoa(v)
	}
	return strings.Join(s, ",")
}

func (r *rateList) Set(s string) error {
	for _, f := range splitList(s) {
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return fmt.Errorf("%q is not a positive whole number of orders per second", f)
		}
		r.values = append(r.values, n)
	}
	return nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// checkBinaries fails early when a service binary is missing.
func checkBinaries(opts options) error {
	for _, name := range []string{contracts.ServiceOrder, contracts.ServiceInventory, contracts.ServiceNotification, contracts.ServiceLogging} {
		if _, err := os.Stat(filepath.Join(opts.bin, name)); err != nil {
			return fmt.Errorf("%s not found in %s: run `make build` first (%w)", name, opts.bin, err)
		}
	}
	return nil
}

// brokerName says which broker the benchmarks ran on.
func brokerName(opts options) string {
	if opts.external() {
		return strings.Join(opts.brokers, ",")
	}
	return "embedded kfake, fresh per benchmark"
}
