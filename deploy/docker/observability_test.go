package docker_test

import (
	"debug/buildinfo"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
	"go.yaml.in/yaml/v3"
)

// The compose services that watch the shop.
const (
	prometheusService = "prometheus"
	jaegerService     = "jaeger"
	grafanaService    = "grafana"
	// otlpEndpoint is where the services send their traces: Jaeger's
	// OTLP/HTTP receiver on the compose network.
	otlpEndpoint = "http://" + jaegerService + ":4318"
	// otlpExporter is the package that reads the OTEL_* variables; a
	// service binary must link it for them to mean anything.
	otlpExporter = "go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
)

// otelVariables are the OpenTelemetry SDK's own settings: the services do
// not list them in --help, the SDK linked into them reads them.
var otelVariables = []string{
	"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
	"OTEL_EXPORTER_OTLP_PROTOCOL", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
	"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	"OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG", "OTEL_TRACES_EXPORTER", "OTEL_SDK_DISABLED",
}

// readsOTel reports whether key is an OpenTelemetry variable and the
// binary links the SDK's OTLP exporter that reads it.
func readsOTel(binary, key string) bool {
	if !slices.Contains(otelVariables, key) {
		return false
	}
	info, err := buildinfo.ReadFile(binary)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(info.Deps, func(m *debug.Module) bool { return m.Path == otlpExporter })
}

// scrapeConfig is the part of a Prometheus configuration the checks read.
type scrapeConfig struct {
	ScrapeConfigs []struct {
		JobName      string `yaml:"job_name"`
		DNSSDConfigs []struct {
			Names []string `yaml:"names"`
			Type  string   `yaml:"type"`
			Port  int      `yaml:"port"`
		} `yaml:"dns_sd_configs"`
		StaticConfigs []any `yaml:"static_configs"`
	} `yaml:"scrape_configs"`
}

// hostPath returns the file on the host that a service sees at target,
// through one of its bind mounts.
func hostPath(s types.ServiceConfig, target string) (string, error) {
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if target == v.Target {
			return v.Source, nil
		}
		if rel, ok := strings.CutPrefix(target, v.Target+"/"); ok {
			return filepath.Join(v.Source, filepath.FromSlash(rel)), nil
		}
	}
	return "", fmt.Errorf("%s: nothing is mounted at %s", s.Name, target)
}

// prometheusConfig reads the configuration file that the compose Prometheus
// runs: its --config.file, through its bind mounts.
func prometheusConfig(p *types.Project) (scrapeConfig, error) {
	var cfg scrapeConfig
	s, ok := p.Services[prometheusService]
	if !ok {
		return cfg, fmt.Errorf("no %q service", prometheusService)
	}
	file := ""
	for _, arg := range s.Command {
		if v, ok := strings.CutPrefix(arg, "--config.file="); ok {
			file = v
		}
	}
	if file == "" {
		return cfg, fmt.Errorf("%s: no --config.file in its command", prometheusService)
	}
	host, err := hostPath(s, file)
	if err != nil {
		return cfg, err
	}
	data, err := os.ReadFile(host)
	if err != nil {
		return cfg, fmt.Errorf("%s: %w", prometheusService, err)
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return cfg, fmt.Errorf("%s: %s: %w", prometheusService, host, err)
	}
	return cfg, nil
}

// scrapePort returns the port at which prometheus.yml scrapes every
// instance of the compose service name, found through Docker's DNS.
func scrapePort(cfg scrapeConfig, name string) (int, error) {
	for _, job := range cfg.ScrapeConfigs {
		if job.JobName != name {
			continue
		}
		if len(job.StaticConfigs) > 0 || len(job.DNSSDConfigs) != 1 || !slices.Equal(job.DNSSDConfigs[0].Names, []string{name}) ||
			job.DNSSDConfigs[0].Type != "A" {
			return 0, fmt.Errorf("%s: scrape job %s must find its targets with one dns_sd_configs entry of type A on the name %q, so every instance is scraped",
				prometheusService, name, name)
		}
		return job.DNSSDConfigs[0].Port, nil
	}
	return 0, fmt.Errorf("%s: no scrape job %q", prometheusService, name)
}

// checkObservability checks the services that watch the shop: Prometheus
// scrapes every service with Docker's DNS, the services send their traces
// to Jaeger, Grafana's data sources and dashboards are the repository's,
// and the images run the versions deploy/observability tests.
func checkObservability(p *types.Project, root string, services []string) []error {
	var errs []error
	report := func(service, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", service, fmt.Sprintf(format, args...)))
	}
	for _, name := range []string{prometheusService, jaegerService, grafanaService} {
		s, ok := p.Services[name]
		if !ok {
			report(name, "no compose service")
			continue
		}
		if !hasHealthCheck(s) {
			report(name, "no health check")
		}
	}
	if err := checkToolVersions(p, root); err != nil {
		errs = append(errs, err)
	}

	cfg, err := prometheusConfig(p)
	if err != nil {
		errs = append(errs, err)
	} else {
		for _, name := range services {
			if _, err := scrapePort(cfg, name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	for _, name := range services {
		if s, ok := p.Services[name]; ok {
			if v, _ := env(s, "OTEL_EXPORTER_OTLP_ENDPOINT"); v != otlpEndpoint {
				report(name, "OTEL_EXPORTER_OTLP_ENDPOINT is %q, want Jaeger's OTLP/HTTP receiver %s", v, otlpEndpoint)
			}
		}
	}

	if g, ok := p.Services[grafanaService]; ok {
		errs = append(errs, checkGrafana(g)...)
	}
	return errs
}

// checkGrafana checks that Grafana is provisioned from the repository: its
// data sources name compose services, and its dashboard provider reads the
// directory where the eventshop dashboard is mounted.
func checkGrafana(g types.ServiceConfig) []error {
	var errs []error
	report := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", grafanaService, fmt.Sprintf(format, args...)))
	}
	file, err := hostPath(g, "/etc/grafana/provisioning/datasources/datasources.yml")
	if err != nil {
		return []error{err}
	}
	var sources struct {
		Datasources []grafanaDatasource `yaml:"datasources"`
	}
	if err := readYAML(file, &sources); err != nil {
		return []error{err}
	}
	for _, want := range []struct{ kind, service string }{{"prometheus", prometheusService}, {"jaeger", jaegerService}} {
		i := slices.IndexFunc(sources.Datasources, func(d grafanaDatasource) bool { return d.Type == want.kind })
		if i < 0 {
			report("no %s data source in %s", want.kind, file)
			continue
		}
		u, err := url.Parse(sources.Datasources[i].URL)
		if err != nil || u.Hostname() != want.service {
			report("the %s data source's URL %q does not name the compose service %q", want.kind, sources.Datasources[i].URL, want.service)
		}
	}

	file, err = hostPath(g, "/etc/grafana/provisioning/dashboards/dashboards.yml")
	if err != nil {
		return append(errs, err)
	}
	var providers struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := readYAML(file, &providers); err != nil {
		return append(errs, err)
	}
	for _, pr := range providers.Providers {
		dir, err := hostPath(g, pr.Options.Path)
		if err != nil {
			report("dashboard provider reads %s: %v", pr.Options.Path, err)
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "eventshop.json")); err != nil {
			report("dashboard provider reads %s, mounted from %s, which has no eventshop.json", pr.Options.Path, dir)
		}
	}
	if len(providers.Providers) == 0 {
		report("no dashboard provider in %s", file)
	}
	return errs
}

type grafanaDatasource struct {
	Type string `yaml:"type"`
	URL  string `yaml:"url"`
}

func readYAML(file string, v any) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	if err := yaml.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}

// toolRequire matches the requirement of each tool's module in its go.mod.
var toolRequire = map[string]*regexp.Regexp{
	prometheusService: regexp.MustCompile(`(?m)^\s*(github\.com/prometheus/prometheus) v(\d+)\.(\d+)\.(\d+)\b`),
	jaegerService:     regexp.MustCompile(`(?m)^\s*(github\.com/jaegertracing/jaeger) v(\d+)\.(\d+)\.(\d+)\b`),
}

// checkToolVersions checks that compose runs the Prometheus and Jaeger that
// deploy/observability/tools pins, which CI tests with. Their Go modules
// number releases differently: Prometheus 3.M.P is module v0.3MM.P; Jaeger
// 2.N.P is module v1.(N+63).P, tagged from the same commit.
func checkToolVersions(p *types.Project, root string) error {
	var errs []string
	for _, name := range []string{prometheusService, jaegerService} {
		gomod := filepath.Join("deploy", "observability", "tools", name, "go.mod")
		data, err := os.ReadFile(filepath.Join(root, gomod))
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		want := ""
		if m := toolRequire[name].FindStringSubmatch(string(data)); m != nil {
			minor, _ := strconv.Atoi(m[3])
			switch m[1] {
			case "github.com/prometheus/prometheus":
				want = fmt.Sprintf("v3.%d.%s", minor-300, m[4])
			case "github.com/jaegertracing/jaeger":
				want = fmt.Sprintf("2.%d.%s", minor-63, m[4])
			}
		}
		s, ok := p.Services[name]
		if !ok || want == "" {
			errs = append(errs, fmt.Sprintf("%s: no compose service, or no version in %s", name, gomod))
			continue
		}
		tag := ""
		if ref, err := reference.ParseNormalizedNamed(s.Image); err == nil {
			if tagged, ok := ref.(reference.Tagged); ok {
				tag = tagged.Tag()
			}
		}
		if tag != want {
			errs = append(errs, fmt.Sprintf("%s: image %s, but %s pins release %s for CI: keep them equal", name, s.Image, gomod, want))
		}
	}
	if len(errs) > 0 {
		return errors.New(strings.Join(errs, "; "))
	}
	return nil
}
