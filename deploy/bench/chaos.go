package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/eventshop/eventshop/pkg/kafka/embedded"
)

// `bench chaos` runs the shop's services as processes and breaks things
// while orders flow: it kills them, stops the broker, feeds them garbage,
// repeats client requests and stops them gracefully under load. For each
// scenario it prints what was sent, processed, lost, duplicated and
// dead-lettered, and fails if anything was lost or a promise was broken.

// The scenarios -only can name.
const (
	chaosCrash    = "crash"
	chaosOutage   = "outage"
	chaosPoison   = "poison"
	chaosRetry    = "retry"
	chaosShutdown = "shutdown"
	chaosPause    = "pause"
)

var chaosScenarios = []string{chaosCrash, chaosPause, chaosOutage, chaosPoison, chaosRetry, chaosShutdown}

// chaosOptions are `bench chaos`'s settings.
type chaosOptions struct {
	broker string // "embedded" or "kafka"
	orders int    // orders placed by each scenario
	rate   int    // orders per second
	poison int    // malformed records of the poison scenario
	outage time.Duration
	bin    string
	only   []string
	// kafkaScript and kafkaPort start the Apache Kafka the scenarios run
	// on with -broker kafka: its own, since the outage stops it.
	kafkaScript string
	kafkaPort   int
}

func parseChaosOptions(args []string, errOut io.Writer) (chaosOptions, error) {
	fs := flag.NewFlagSet("bench chaos", flag.ContinueOnError)
	fs.SetOutput(errOut)
	var o chaosOptions
	broker := os.Getenv("CHAOS_BROKER")
	if broker == "" {
		broker = "embedded"
	}
	fs.StringVar(&o.broker, "broker", broker, "embedded (in the harness) or kafka (Apache Kafka started with -kafka-script); default CHAOS_BROKER or embedded")
	fs.IntVar(&o.orders, "orders", 10000, "orders each scenario places")
	fs.IntVar(&o.rate, "rate", 500, "orders per second")
	fs.IntVar(&o.poison, "poison", 10000, "malformed records the poison scenario writes")
	fs.DurationVar(&o.outage, "outage", 10*time.Second, "how long the broker stays down in the outage scenario")
	fs.StringVar(&o.bin, "bin", "bin", "directory holding the service binaries (make build)")
	only := fs.String("only", strings.Join(chaosScenarios, ","), "comma-separated scenarios: "+strings.Join(chaosScenarios, ", "))
	fs.StringVar(&o.kafkaScript, "kafka-script", "deploy/kafka/kafka.sh", "the script that runs Apache Kafka from Maven Central's jars")
	fs.IntVar(&o.kafkaPort, "kafka-port", 49292, "port of the Apache Kafka started for -broker kafka (the controller takes the next)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	o.only = splitList(*only)
	var errs []error
	if o.broker != "embedded" && o.broker != "kafka" {
		errs = append(errs, fmt.Errorf("-broker: %q is not embedded or kafka", o.broker))
	}
	for name, n := range map[string]int{"-orders": o.orders, "-rate": o.rate, "-poison": o.poison} {
		if n < 1 {
			errs = append(errs, fmt.Errorf("%s: must be at least 1, got %d", name, n))
		}
	}
	if o.outage <= 0 {
		errs = append(errs, fmt.Errorf("-outage: must be positive, got %s", o.outage))
	}
	errs = append(errs, checkOnly(o.only, chaosScenarios, "scenario")...)
	return o, errors.Join(errs...)
}

// chaosBroker is the cluster the scenarios run on, which the outage
// scenario takes down and brings back.
type chaosBroker interface {
	addrs() []string
	String() string
	down(ctx context.Context) error
	up(ctx context.Context) error
	close() error
}

// embeddedBroker is the embedded broker, in the harness's own process.
type embeddedBroker struct{ b *embedded.Broker }

func (e embeddedBroker) addrs() []string { return []string{e.b.Addr()} }
func (e embeddedBroker) String() string  { return "embedded" }
func (e embeddedBroker) down(context.Context) error {
	e.b.Down()
	return nil
}
func (e embeddedBroker) up(ctx context.Context) error { return e.b.Up(ctx) }
func (e embeddedBroker) close() error {
	e.b.Close()
	return nil
}

// kafkaBroker is an Apache Kafka of the harness's own, run by kafka.sh
// with its state in a temporary directory.
type kafkaBroker struct {
	script, dir string
	port        int
}

func startKafkaBroker(ctx context.Context, script string, port int) (*kafkaBroker, error) {
	dir, err := os.MkdirTemp("", "eventshop-chaos-kafka-")
	if err != nil {
		return nil, err
	}
	k := &kafkaBroker{script: script, dir: dir, port: port}
	if err := k.run(ctx, "up", "--port", strconv.Itoa(port)); err != nil {
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	return k, nil
}

// run runs a kafka.sh command, its output kept for an error.
func (k *kafkaBroker) run(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "bash", append([]string{k.script}, args...)...)
	cmd.Env = append(os.Environ(), "KAFKA_STATE_DIR="+k.dir)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %w\n%s", k.script, strings.Join(args, " "), err, out.Bytes())
	}
	return nil
}

func (k *kafkaBroker) addrs() []string { return []string{"127.0.0.1:" + strconv.Itoa(k.port)} }
func (k *kafkaBroker) String() string  { return "kafka" }
func (k *kafkaBroker) down(ctx context.Context) error {
	return k.run(ctx, "stop")
}
func (k *kafkaBroker) up(ctx context.Context) error {
	return k.run(ctx, "start", "--port", strconv.Itoa(k.port))
}
func (k *kafkaBroker) close() error {
	err := k.run(context.Background(), "down")
	return errors.Join(err, os.RemoveAll(k.dir))
}

// chaosRun is one `bench chaos`: its settings and broker.
type chaosRun struct {
	opts   chaosOptions
	broker chaosBroker
	// progress is where it says what it is doing.
	progress io.Writer
}

// benchOptions are the testbed's settings: the chaos broker, taken as a
// cluster of its own that each scenario shares with those before it.
func (r *chaosRun) benchOptions() options {
	return options{brokers: r.broker.addrs(), bin: r.opts.bin}
}

func (r *chaosRun) say(format string, args ...any) {
	fmt.Fprintf(r.progress, "chaos: "+format+"\n", args...)
}

// flow is how long placing the run's orders takes at its rate.
func (r *chaosRun) flow() time.Duration {
	return time.Duration(r.opts.orders) * time.Second / time.Duration(r.opts.rate)
}

// runChaos is `bench chaos`: it runs the selected scenarios and prints their
// table, then each one's notes, to out.
func runChaos(ctx context.Context, args []string, out, progress io.Writer) error {
	opts, err := parseChaosOptions(args, progress)
	if err != nil {
		return err
	}
	if err := checkBinaries(options{bin: opts.bin}); err != nil {
		return err
	}
	r := &chaosRun{opts: opts, progress: progress}
	if opts.broker == "kafka" {
		r.say("starting Apache Kafka on 127.0.0.1:%d ...", opts.kafkaPort)
		k, err := startKafkaBroker(ctx, opts.kafkaScript, opts.kafkaPort)
		if err != nil {
			return err
		}
		r.broker = k
	} else {
		b, err := embedded.Start(embedded.Options{})
		if err != nil {
			return err
		}
		r.broker = embeddedBroker{b}
	}
	defer func() { err = errors.Join(err, r.broker.close()) }()

	outcomes, runErr := r.runScenarios(ctx)
	if len(outcomes) > 0 {
		if err := writeChaos(out, r.broker.String(), outcomes); err != nil {
			return errors.Join(runErr, err)
		}
		fmt.Fprintln(out, describeMachine(r.broker.String()))
	}
	var failed []string
	for _, o := range outcomes {
		for _, f := range o.failures {
			failed = append(failed, o.scenario+": "+f)
		}
	}
	if len(failed) > 0 {
		runErr = errors.Join(runErr, fmt.Errorf("%d promises broken:\n  %s", len(failed), strings.Join(failed, "\n  ")))
	}
	return runErr
}

// scenarioFuncs runs each scenario.
var scenarioFuncs = map[string]func(context.Context, *chaosRun) (outcome, error){
	chaosCrash:    runCrash,
	chaosOutage:   runOutage,
	chaosPoison:   runPoison,
	chaosRetry:    runRetry,
	chaosShutdown: runShutdown,
	chaosPause:    runPause,
}

func (r *chaosRun) runScenarios(ctx context.Context) ([]outcome, error) {
	var outcomes []outcome
	for _, name := range chaosScenarios {
		if !slices.Contains(r.opts.only, name) {
			continue
		}
		r.say("%s ...", name)
		o, err := scenarioFuncs[name](ctx, r)
		o.scenario = name
		outcomes = append(outcomes, o)
		if err != nil {
			return outcomes, fmt.Errorf("%s: %w", name, err)
		}
	}
	return outcomes, nil
}

// writeChaos prints the table, then each scenario's notes and broken
// promises.
func writeChaos(w io.Writer, broker string, outcomes []outcome) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tBROKER\tSENT\tPROCESSED\tLOST\tDUPLICATED\tDEAD-LETTERED\tTIME\t")
	for _, o := range outcomes {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t\n", o.scenario, broker, o.sent, o.processed, o.lost,
			o.duplicated, o.deadLettered, duration(o.elapsed))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, o := range outcomes {
		for _, n := range o.notes {
			fmt.Fprintf(&buf, "%s: %s\n", o.scenario, n)
		}
		for _, f := range o.failures {
			fmt.Fprintf(&buf, "%s: BROKEN: %s\n", o.scenario, f)
		}
	}
	var out strings.Builder
	for line := range strings.Lines(buf.String()) {
		out.WriteString(strings.TrimRight(line, " \n") + "\n")
	}
	_, err := io.WriteString(w, out.String())
	return err
}
