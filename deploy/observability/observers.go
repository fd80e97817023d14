package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"
)

// jobs are the Prometheus jobs, one per service, as prometheus.yml and
// prometheus.local.yml name them.
var jobs = []string{"order-service", "inventory-service", "notification-service", "logging-service"}

// observers says how to run Prometheus and Jaeger beside the shop.
type observers struct {
	// configDir holds the repository's files: prometheus/ and jaeger/.
	configDir string
	// runDir receives Prometheus's configuration, scrape targets and data.
	runDir string
	// prometheus and jaeger are the binaries.
	prometheus, jaeger string
	// prometheusAddr is where Prometheus serves its UI and HTTP API.
	prometheusAddr string
	jaegerPorts    jaegerPorts
	// targets lists each job's instances, host:port.
	targets map[string][]string
}

// jaegerPorts are the ports Jaeger listens on, on 127.0.0.1.
type jaegerPorts struct {
	query, queryGRPC, health, otlpGRPC, otlpHTTP int
}

// defaultJaegerPorts are Jaeger's usual ports, the ones docker compose
// publishes.
var defaultJaegerPorts = jaegerPorts{query: 16686, queryGRPC: 16685, health: 13133, otlpGRPC: 4317, otlpHTTP: 4318}

// queryURL is the root of Jaeger's UI and HTTP API.
func (j jaegerPorts) queryURL() string { return "http://127.0.0.1:" + strconv.Itoa(j.query) }

// otlpEnv is the environment that points a service's traces at Jaeger.
func (j jaegerPorts) otlpEnv() []string {
	return []string{"OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:" + strconv.Itoa(j.otlpHTTP)}
}

// env sets the ports in jaeger/config.yaml.
func (j jaegerPorts) env() []string {
	return []string{
		"JAEGER_LISTEN_HOST=127.0.0.1",
		"JAEGER_QUERY_PORT=" + strconv.Itoa(j.query),
		"JAEGER_QUERY_GRPC_PORT=" + strconv.Itoa(j.queryGRPC),
		"JAEGER_HEALTH_PORT=" + strconv.Itoa(j.health),
		"JAEGER_OTLP_GRPC_PORT=" + strconv.Itoa(j.otlpGRPC),
		"JAEGER_OTLP_HTTP_PORT=" + strconv.Itoa(j.otlpHTTP),
	}
}

// start starts Jaeger, then Prometheus, and waits until both answer. On
// error it stops what it started.
func (o observers) start(ctx context.Context, w *lineWriter) ([]*proc, error) {
	for _, port := range []int{o.jaegerPorts.query, o.jaegerPorts.otlpHTTP, o.jaegerPorts.otlpGRPC} {
		if err := free(ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port))); err != nil {
			return nil, fmt.Errorf("jaeger: %w", err)
		}
	}
	if err := free(ctx, o.prometheusAddr); err != nil {
		return nil, fmt.Errorf("prometheus: %w", err)
	}

	// Jaeger's info lines say each component started: warnings are news.
	env := append(o.jaegerPorts.env(), "JAEGER_LOG_LEVEL=warn")
	jaeger, err := start("jaeger", o.jaeger, []string{"--config", filepath.Join(o.configDir, "jaeger", "config.yaml")}, env, w)
	if err != nil {
		return nil, err
	}
	procs := []*proc{jaeger}
	health := "http://127.0.0.1:" + strconv.Itoa(o.jaegerPorts.health) + "/status"
	if err := waitHTTP(ctx, health, jaeger, time.Minute); err != nil {
		return nil, errors.Join(err, stopAll(procs, 10*time.Second))
	}

	configFile, err := o.writePrometheusConfig()
	if err != nil {
		return nil, errors.Join(err, stopAll(procs, 10*time.Second))
	}
	prometheus, err := start("prometheus", o.prometheus, []string{
		"--config.file=" + configFile,
		"--storage.tsdb.path=" + filepath.Join(o.runDir, "data"),
		"--web.listen-address=" + o.prometheusAddr,
		"--log.level=warn",
	}, nil, w)
	if err != nil {
		return nil, errors.Join(err, stopAll(procs, 10*time.Second))
	}
	procs = append(procs, prometheus)
	if err := waitHTTP(ctx, "http://"+o.prometheusAddr+"/-/ready", prometheus, time.Minute); err != nil {
		return nil, errors.Join(err, stopAll(procs, 10*time.Second))
	}
	return procs, nil
}

// writePrometheusConfig copies prometheus.local.yml and the alert rules into
// runDir and writes beside them the scrape targets it reads, one file per
// job. It returns the configuration file's path.
func (o observers) writePrometheusConfig() (string, error) {
	if err := os.MkdirAll(filepath.Join(o.runDir, "targets"), 0o750); err != nil {
		return "", err
	}
	for src, dst := range map[string]string{"prometheus.local.yml": "prometheus.yml", "alerts.yml": "alerts.yml"} {
		data, err := os.ReadFile(filepath.Join(o.configDir, "prometheus", src))
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(o.runDir, dst), data, 0o600); err != nil {
			return "", err
		}
	}
	for _, job := range jobs {
		targets := o.targets[job]
		if len(targets) == 0 {
			return "", fmt.Errorf("prometheus: no targets for job %s", job)
		}
		// The file_sd format: a list of target groups.
		data, err := json.Marshal([]map[string][]string{{"targets": slices.Clone(targets)}})
		if err != nil {
			return "", err
		}
		if err := os.WriteFile(filepath.Join(o.runDir, "targets", job+".json"), data, 0o600); err != nil {
			return "", err
		}
	}
	return filepath.Join(o.runDir, "prometheus.yml"), nil
}

// free fails if something listens on addr already: a Prometheus or Jaeger
// left from an earlier run would answer in place of ours.
func free(ctx context.Context, addr string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot listen on %s, is the port taken? %w", addr, err)
	}
	return ln.Close()
}
