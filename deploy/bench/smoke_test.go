package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// built holds the services buildServices built, once for every test.
var built struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.dir != "" {
		if err := os.RemoveAll(built.dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
		}
	}
	os.Exit(code)
}

// buildServices builds the four services into a temporary directory, as
// `make build` does into bin/, the first time a test asks. The directory
// outlives the test that asked: TestMain removes it.
func buildServices(t *testing.T) string {
	t.Helper()
	built.once.Do(func() { built.dir, built.err = buildAll(t.Context()) })
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.dir
}

// buildAll builds the services into a new temporary directory, which it
// returns after a failure too, for TestMain to remove.
func buildAll(ctx context.Context) (string, error) {
	dir, err := os.MkdirTemp("", "eventshop-bench-")
	if err != nil {
		return "", err
	}
	for _, name := range []string{contracts.ServiceOrder, contracts.ServiceInventory, contracts.ServiceNotification, contracts.ServiceLogging} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", filepath.Join(dir, name), ".")
		cmd.Dir = filepath.Join("..", "..", "services", name)
		if out, err := cmd.CombinedOutput(); err != nil {
			return dir, fmt.Errorf("build %s: %w\n%s", name, err, out)
		}
	}
	return dir, nil
}

// smokeOptions runs every benchmark small: on an embedded broker, or on the
// cluster in KAFKA_BROKERS as the other integration tests do.
func smokeOptions(bin string) options {
	return options{
		brokers:  splitList(os.Getenv("KAFKA_BROKERS")),
		orders:   500,
		clients:  4,
		rates:    []int{200},
		duration: time.Second,
		bin:      bin,
		only:     benchmarks,
	}
}

// TestSmoke runs each benchmark on a small workload and checks that it
// measured what it says: the drain completed with every expected event,
// every accepted order was found, and the figures are positive.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the services as processes; skipped with -short")
	}
	opts := smokeOptions(buildServices(t))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var report table

	drain, err := runDrain(ctx, opts)
	if err != nil {
		t.Fatalf("drain: %v", err)
	}
	checkNoChildren(t)
	if drain.orders != 500 || drain.elapsed <= 0 || !drain.got.covers(drain.want) || drain.want.updated != 1000 {
		t.Errorf("drain = %+v, want 500 orders drained with at least the %+v events", drain, drain.want)
	}
	if len(drain.services) != 3 {
		t.Fatalf("drain measured %d services, want 3", len(drain.services))
	}
	for _, s := range drain.services {
		if s.caughtUp <= 0 || s.caughtUp > drain.elapsed || s.peakRSS <= 0 || len(s.topics) == 0 {
			t.Errorf("drain of %s = %+v, want a positive catch-up time within %s, topics and peak RSS", s.name, s, drain.elapsed)
		}
	}
	report.addDrain(drain)
	report.addMemory(drain)

	ingest, err := runIngest(ctx, opts)
	if err != nil {
		t.Fatalf("ingest: %v", err)
	}
	checkNoChildren(t)
	if ingest.accepted == 0 || ingest.failed != 0 || ingest.onTopic != ingest.accepted || ingest.latency.n != ingest.accepted || ingest.latency.p50 <= 0 {
		t.Errorf("ingest = %+v, want accepted orders, all on the topic, with latencies", ingest)
	}
	report.addIngest(ingest)

	latency, err := runLatency(ctx, opts, 200)
	if err != nil {
		t.Fatalf("latency: %v", err)
	}
	checkNoChildren(t)
	if n := latency.load.accepted; n < 100 || latency.load.failed != 0 || latency.notified.n != n || latency.inventoried.n != n {
		t.Errorf("latency = %+v, want about 200 accepted orders, each seen on both paths", latency)
	}
	if latency.notified.p50 <= 0 || latency.inventoried.p50 <= 0 {
		t.Errorf("latency = %+v, want positive latencies", latency)
	}
	report.addLatency(latency)

	var out bytes.Buffer
	if err := report.write(&out); err != nil {
		t.Fatal(err)
	}
	if rows := strings.Count(out.String(), "\n"); rows != 1+len(report.rows) {
		t.Errorf("table has %d lines, want a header and %d rows:\n%s", rows, len(report.rows), out.String())
	}
	t.Logf("\n%s%s", out.String(), describeMachine(brokerName(opts)))
}

// TestInterruptStopsEverything cancels a benchmark while its services run,
// as Ctrl-C does, and checks that it returns promptly and leaves no process
// behind.
func TestInterruptStopsEverything(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the services as processes; skipped with -short")
	}
	opts := smokeOptions(buildServices(t))
	opts.duration = time.Minute
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := runIngest(ctx, opts)
		done <- err
	}()
	// Once order-service has been started, interrupt.
	deadline := time.Now().Add(time.Minute)
	for len(children(t)) == 0 {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("order-service not started within a minute; ingest returned %v", <-done)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second) // into the load
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("interrupted ingest returned %v, want context.Canceled", err)
		}
	case <-time.After(stopGrace + 10*time.Second):
		t.Fatal("interrupted ingest did not return")
	}
	checkNoChildren(t)
}

// checkNoChildren fails the test if a process the harness started still runs.
func checkNoChildren(t *testing.T) {
	t.Helper()
	if pids := children(t); len(pids) > 0 {
		t.Errorf("processes left behind: %v", pids)
	}
}

// children lists the live child processes of this test binary (the go build
// commands of buildServices have all exited by then).
func children(t *testing.T) []string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc")
	}
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	var out []string
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid ...; comm may hold anything, so split
		// after the last ')'.
		i := bytes.LastIndexByte(data, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(string(data[i+1:]))
		if len(fields) >= 2 && fields[1] == me && fields[0] != "Z" {
			out = append(out, path)
		}
	}
	return out
}
