// Command observability runs the shop as `make run` does, with Prometheus
// and Jaeger beside it, no Docker: `make run-observed`. Prometheus scrapes
// every service's /metrics with the alert rules loaded; Jaeger receives
// every service's traces over OTLP. Ctrl-C stops the shop, then the tools.
//
// The tools are the real ones, built from the Go module proxy as
// deploy/kafka runs Kafka from Maven's jars: tools/prometheus/go.mod and
// tools/jaeger/go.mod pin them, and `go tool` builds them once into the Go
// build cache.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A second Ctrl-C ends us at once; the kernel then stops the children.
	context.AfterFunc(ctx, stop)
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "observability:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("observability", flag.ContinueOnError)
	bin := fs.String("bin", "bin", "directory holding localrun, devkafka and the service binaries")
	dir := fs.String("dir", "deploy/observability", "directory of the Prometheus and Jaeger configuration, with the tools modules in tools/")
	promAddr := fs.String("prometheus-addr", "127.0.0.1:9090", "address for Prometheus's UI and API")
	grace := fs.Duration("grace", 30*time.Second, "how long the shop, then each tool, may take to stop")
	if err := fs.Parse(args); err != nil {
		return err
	}
	instances := 1
	if v := os.Getenv("INVENTORY_INSTANCES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 9 {
			return fmt.Errorf("INVENTORY_INSTANCES=%q: want 1 to 9", v)
		}
		instances = n
	}
	localrun := filepath.Join(*bin, "localrun")
	if _, err := os.Stat(localrun); err != nil {
		return fmt.Errorf("%s not found: run `make build` first", localrun)
	}

	w := &lineWriter{out: out}
	w.write("observability", "building Prometheus and Jaeger with go tool (the first time takes minutes; then the build cache has them)")
	obs := observers{
		configDir:      *dir,
		prometheusAddr: *promAddr,
		jaegerPorts:    defaultJaegerPorts,
		targets:        localTargets(instances),
	}
	var err error
	if obs.prometheus, err = toolBinary(ctx, filepath.Join(*dir, "tools"), toolPrometheus); err != nil {
		return err
	}
	if obs.jaeger, err = toolBinary(ctx, filepath.Join(*dir, "tools"), toolJaeger); err != nil {
		return err
	}
	if obs.runDir, err = os.MkdirTemp("", "eventshop-observed-"); err != nil {
		return err
	}
	defer func() {
		if err := os.RemoveAll(obs.runDir); err != nil {
			w.write("observability", err.Error())
		}
	}()

	tools, err := obs.start(ctx, w)
	if err != nil {
		return err
	}
	w.write("observability", fmt.Sprintf("Prometheus http://%s (alerts: /alerts), Jaeger http://127.0.0.1:%d; starting the shop",
		*promAddr, obs.jaegerPorts.query))

	// Not CommandContext: localrun is stopped with SIGTERM below, so that it
	// can stop the services before its broker.
	shop := exec.Command(localrun, "-bin", *bin) //nolint:noctx // see above
	shop.Env = append(os.Environ(), obs.jaegerPorts.otlpEnv()...)
	shop.Stdout, shop.Stderr = out, out
	if out == os.Stdout {
		shop.Stderr = os.Stderr
	}
	shop.SysProcAttr = sysProcAttr()
	if err := shop.Start(); err != nil {
		return errors.Join(fmt.Errorf("start localrun: %w", err), stopAll(tools, *grace))
	}
	exited := make(chan error, 1)
	go func() { exited <- shop.Wait() }()

	var runErr error
	select {
	case err := <-exited:
		runErr = errors.New("localrun exited with status 0")
		if err != nil {
			runErr = fmt.Errorf("localrun exited: %w", err)
		}
	case <-ctx.Done():
		// localrun stops the services, then its broker.
		_ = shop.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				runErr = fmt.Errorf("localrun: %w", err)
			}
		case <-time.After(2 * *grace):
			_ = shop.Process.Kill()
			runErr = fmt.Errorf("localrun did not stop within %s and was killed", 2**grace)
		}
	}
	w.write("observability", "stopping Prometheus and Jaeger")
	return errors.Join(runErr, stopAll(tools, *grace))
}

// localTargets are the services' HTTP addresses under localrun: each
// service's default port, and :801k for inventory instance k.
func localTargets(inventoryInstances int) map[string][]string {
	targets := map[string][]string{
		"order-service":        {"127.0.0.1:8000"},
		"inventory-service":    {"127.0.0.1:8001"},
		"notification-service": {"127.0.0.1:8002"},
		"logging-service":      {"127.0.0.1:8003"},
	}
	for k := 2; k <= inventoryInstances; k++ {
		targets["inventory-service"] = append(targets["inventory-service"], fmt.Sprintf("127.0.0.1:%d", 8010+k))
	}
	return targets
}
