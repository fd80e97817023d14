package docker_test

import (
	"encoding/xml"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/distribution/reference"
)

const (
	// brokerService is the compose service running Kafka.
	brokerService = "kafka"
	// tutorialAddress is where the tutorial's Node.js app, and our binaries
	// by default, look for Kafka: the broker must be reachable there from
	// the host.
	tutorialAddress = "localhost:29092"
	// defaultStopGrace is how long Docker waits after SIGTERM before it
	// kills a container whose stop_grace_period is not set.
	defaultStopGrace = 10 * time.Second
)

// scalable lists the services meant to run as several instances
// (`docker compose up --scale inventory-service=3`): a fixed container name
// or host port would let only one of them start.
var scalable = []string{"inventory-service"}

func TestComposeFile(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	project := loadCompose(t, root)
	for _, err := range checkCompose(project, root, serviceNames(t, root)) {
		t.Error(err)
	}
}

// TestComposeChecksCatchMistakes breaks a correct project in the ways the
// checks exist for and expects each break to be reported.
func TestComposeChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	root := repoRoot(t)
	services := serviceNames(t, root)

	tests := []struct {
		name   string
		mutate func(p *types.Project)
		want   string
	}{
		{
			name:   "inventory with a container name",
			mutate: edit("inventory-service", func(s *types.ServiceConfig) { s.ContainerName = "inventory" }),
			want:   "container_name",
		},
		{
			name: "inventory on a fixed host port",
			mutate: edit("inventory-service", func(s *types.ServiceConfig) {
				s.Ports = []types.ServicePortConfig{{Target: 8001, Published: "8001", Protocol: "tcp"}}
			}),
			want: "host port 8001",
		},
		{
			name:   "a service without a compose entry",
			mutate: func(p *types.Project) { delete(p.Services, "logging-service") },
			want:   "logging-service: no compose service",
		},
		{
			name: "built from another service's Dockerfile",
			mutate: edit("inventory-service", func(s *types.ServiceConfig) {
				s.Build.Dockerfile = "services/order-service/Dockerfile"
			}),
			want: "dockerfile",
		},
		{
			name:   "built from a subdirectory as context",
			mutate: edit("order-service", func(s *types.ServiceConfig) { s.Build.Context = filepath.Join(root, "services") }),
			want:   "build context",
		},
		{
			name:   "an image on latest",
			mutate: edit("console", func(s *types.ServiceConfig) { s.Image = "docker.redpanda.com/redpandadata/console:latest" }),
			want:   "latest",
		},
		{
			name:   "an image without a tag",
			mutate: edit("console", func(s *types.ServiceConfig) { s.Image = "docker.redpanda.com/redpandadata/console" }),
			want:   "no tag",
		},
		{
			name:   "a broker image other than the CI broker's version",
			mutate: edit(brokerService, func(s *types.ServiceConfig) { s.Image = "apache/kafka:4.0.0" }),
			want:   "pom.xml",
		},
		{
			name:   "a service dialing the host listener",
			mutate: setEnv("order-service", "KAFKA_BROKERS", tutorialAddress),
			want:   "order-service: KAFKA_BROKERS",
		},
		{
			name:   "the console on another address",
			mutate: setEnv("console", "KAFKA_BROKERS", "broker:9092"),
			want:   "console: KAFKA_BROKERS",
		},
		{
			name:   "the broker advertising an address containers cannot resolve",
			mutate: setEnv(brokerService, "KAFKA_ADVERTISED_LISTENERS", "INTERNAL://broker:9092,EXTERNAL://localhost:29092"),
			want:   "not the broker's service name",
		},
		{
			name:   "a voter at localhost",
			mutate: setEnv(brokerService, "KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093"),
			want:   "voter 1@localhost:9093 is not at the broker's service name",
		},
		{
			name:   "the host listener not published",
			mutate: edit(brokerService, func(s *types.ServiceConfig) { s.Ports = nil }),
			want:   "not published",
		},
		{
			name:   "offsets replicated more than one broker can hold",
			mutate: setEnv(brokerService, "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "3"),
			want:   "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
		},
		{
			name:   "service topics replicated more than one broker can hold",
			mutate: setEnv("notification-service", "TOPIC_REPLICATION_FACTOR", "3"),
			want:   "TOPIC_REPLICATION_FACTOR",
		},
		{
			name:   "a service without a health check",
			mutate: edit("logging-service", func(s *types.ServiceConfig) { s.HealthCheck = nil }),
			want:   "logging-service: no health check",
		},
		{
			name:   "the broker without a health check",
			mutate: edit(brokerService, func(s *types.ServiceConfig) { s.HealthCheck = &types.HealthCheckConfig{Disable: true} }),
			want:   "kafka: no health check",
		},
		{
			name: "a service not waiting for a healthy broker",
			mutate: edit("order-service", func(s *types.ServiceConfig) {
				s.DependsOn = types.DependsOnConfig{brokerService: {Condition: types.ServiceConditionStarted, Required: true}}
			}),
			want: "service_healthy",
		},
		{
			name:   "Prometheus without a health check",
			mutate: edit(prometheusService, func(s *types.ServiceConfig) { s.HealthCheck = nil }),
			want:   "prometheus: no health check",
		},
		{
			name:   "a Prometheus other than the one CI tests",
			mutate: edit(prometheusService, func(s *types.ServiceConfig) { s.Image = "prom/prometheus:v3.1.0" }),
			want:   "tools/prometheus/go.mod pins release v3.16.0",
		},
		{
			name:   "a Jaeger other than the one CI tests",
			mutate: edit(jaegerService, func(s *types.ServiceConfig) { s.Image = "jaegertracing/jaeger:2.1.0" }),
			want:   "tools/jaeger/go.mod pins release 2.13.0",
		},
		{
			name:   "Prometheus reading a configuration that is not mounted",
			mutate: edit(prometheusService, func(s *types.ServiceConfig) { s.Command = types.ShellCommand{"--config.file=/etc/prom/prometheus.yml"} }),
			want:   "nothing is mounted at /etc/prom/prometheus.yml",
		},
		{
			name: "Prometheus with a configuration lacking a service's job",
			mutate: edit(prometheusService, func(s *types.ServiceConfig) {
				s.Volumes[0].Source = filepath.Join(root, "deploy", "docker", "testdata", "prometheus-without-logging")
			}),
			want: `no scrape job "logging-service"`,
		},
		{
			name:   "a service sending its traces elsewhere",
			mutate: setEnv("logging-service", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://localhost:4318"),
			want:   "logging-service: OTEL_EXPORTER_OTLP_ENDPOINT",
		},
		{
			name: "Grafana's dashboards not mounted",
			mutate: edit(grafanaService, func(s *types.ServiceConfig) {
				s.Volumes = slices.DeleteFunc(s.Volumes, func(v types.ServiceVolumeConfig) bool { return v.Target == "/var/lib/grafana/dashboards" })
			}),
			want: "dashboard provider",
		},
		{
			name: "Grafana published on every interface",
			mutate: edit(grafanaService, func(s *types.ServiceConfig) {
				s.Ports = []types.ServicePortConfig{{Target: 3000, Published: "3000", Protocol: "tcp"}}
			}),
			want: "grafana: publishes container port 3000 on every interface",
		},
		{
			name: "a stop grace period shorter than the shutdown timeout",
			mutate: edit("inventory-service", func(s *types.ServiceConfig) {
				grace := types.Duration(5 * time.Second)
				s.StopGracePeriod = &grace
			}),
			want: "stop_grace_period",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			project := loadCompose(t, root)
			tt.mutate(project)
			errs := checkCompose(project, root, services)
			for _, err := range errs {
				if strings.Contains(err.Error(), tt.want) {
					return
				}
			}
			t.Errorf("no error mentions %q; got %v", tt.want, errs)
		})
	}
}

// edit returns a mutation of the service called name.
func edit(name string, f func(*types.ServiceConfig)) func(*types.Project) {
	return func(p *types.Project) {
		s, ok := p.Services[name]
		if !ok {
			panic("no compose service " + name)
		}
		f(&s)
		p.Services[name] = s
	}
}

// setEnv returns a mutation setting key=value in a service's environment.
func setEnv(name, key, value string) func(*types.Project) {
	return edit(name, func(s *types.ServiceConfig) {
		env := types.MappingWithEquals{}
		for k, v := range s.Environment {
			env[k] = v
		}
		env[key] = &value
		s.Environment = env
	})
}

// checkCompose reports every way the project departs from how the shop is
// meant to run under Compose. services are the service modules of the
// repository.
func checkCompose(p *types.Project, root string, services []string) []error {
	var errs []error
	report := func(service, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", service, fmt.Sprintf(format, args...)))
	}

	broker, ok := p.Services[brokerService]
	if !ok {
		return []error{fmt.Errorf("no %q service", brokerService)}
	}
	internal, err := containerListener(broker)
	if err != nil {
		report(brokerService, "%v", err)
	}
	errs = append(errs, checkHostListener(broker)...)
	if err := checkVoterNames(broker); err != nil {
		report(brokerService, "%v", err)
	}
	errs = append(errs, checkSingleNode(broker)...)
	if err := checkBrokerVersion(broker, root); err != nil {
		report(brokerService, "%v", err)
	}
	if !hasHealthCheck(broker) {
		report(brokerService, "no health check: the services wait for a healthy broker")
	}

	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		s := p.Services[name]
		if s.Build == nil {
			if err := checkPinned(s.Image); err != nil {
				report(name, "image %v", err)
			}
		}
		if value, ok := env(s, "KAFKA_BROKERS"); ok && internal != "" && value != internal {
			report(name, "KAFKA_BROKERS is %q, want the broker's container listener %q", value, internal)
		}
		if _, ok := env(s, "KAFKA_BROKERS"); ok && !waitsForHealthyBroker(s) {
			report(name, "talks to Kafka but does not depend on %s with condition service_healthy", brokerService)
		}
	}

	for _, name := range services {
		s, ok := p.Services[name]
		if !ok {
			report(name, "no compose service for services/%s", name)
			continue
		}
		errs = append(errs, checkAppService(s, root)...)
	}
	errs = append(errs, checkObservability(p, root, services)...)
	for _, name := range scalable {
		if s, ok := p.Services[name]; ok {
			for _, port := range s.Ports {
				if port.Published != "" {
					report(name, "publishes host port %s: a second instance could not bind it (leave the host port out)", port.Published)
				}
			}
		}
	}
	// Kafka's PLAINTEXT listener, the console (which can delete topics) and
	// the API have no authentication, and Docker's published ports bypass
	// host firewalls: they listen on the loopback interface only.
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, port := range p.Services[name].Ports {
			if port.HostIP != "127.0.0.1" && port.HostIP != "::1" {
				report(name, "publishes container port %d on every interface: prefix it with 127.0.0.1:", port.Target)
			}
		}
	}
	return errs
}

// checkAppService checks a service of ours: built from its own Dockerfile
// with the repository as context, healthy only when its binary says so,
// started after the broker, and given time to stop gracefully.
func checkAppService(s types.ServiceConfig, root string) []error {
	var errs []error
	report := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", s.Name, fmt.Sprintf(format, args...)))
	}
	if s.Build == nil {
		report("not built from its Dockerfile (no build section)")
	} else {
		if filepath.Clean(s.Build.Context) != root {
			report("build context is %s, want the repository root %s (the build needs pkg/)", s.Build.Context, root)
		}
		want := filepath.Join(root, "services", s.Name, "Dockerfile")
		got := s.Build.Dockerfile
		if !filepath.IsAbs(got) {
			got = filepath.Join(s.Build.Context, got)
		}
		if filepath.Clean(got) != want {
			report("dockerfile is %s, want %s", got, want)
		} else if _, err := os.Stat(want); err != nil {
			report("dockerfile: %v", err)
		}
	}
	if s.ContainerName != "" {
		report("container_name %q: a fixed name stops --scale and clashes between checkouts", s.ContainerName)
	}
	if !hasHealthCheck(s) {
		report("no health check")
	}
	if _, ok := env(s, "KAFKA_BROKERS"); !ok {
		report("KAFKA_BROKERS is not set: the default (%s) is not the broker inside Compose", tutorialAddress)
	}
	if value, ok := env(s, "TOPIC_REPLICATION_FACTOR"); ok && value != "1" {
		report("TOPIC_REPLICATION_FACTOR is %s, but there is one broker", value)
	}
	if value, ok := env(s, "SHUTDOWN_TIMEOUT"); !ok {
		report("SHUTDOWN_TIMEOUT is not set, so stop_grace_period cannot be checked against it")
	} else if shutdown, err := time.ParseDuration(value); err != nil {
		report("SHUTDOWN_TIMEOUT %q: %v", value, err)
	} else {
		grace := defaultStopGrace
		if s.StopGracePeriod != nil {
			grace = time.Duration(*s.StopGracePeriod)
		}
		if grace <= shutdown {
			report("stop_grace_period %s does not exceed SHUTDOWN_TIMEOUT %s: Docker would kill it mid-shutdown", grace, shutdown)
		}
	}
	return errs
}

// containerListener returns host:port at which containers on the compose
// network reach the broker: the advertised address of its inter-broker
// listener, whose host must be the broker's service (or host) name.
func containerListener(broker types.ServiceConfig) (string, error) {
	name, ok := env(broker, "KAFKA_INTER_BROKER_LISTENER_NAME")
	if !ok {
		return "", errors.New("KAFKA_INTER_BROKER_LISTENER_NAME is not set")
	}
	advertised, err := listeners(broker, "KAFKA_ADVERTISED_LISTENERS")
	if err != nil {
		return "", err
	}
	addr, ok := advertised[name]
	if !ok {
		return "", fmt.Errorf("KAFKA_ADVERTISED_LISTENERS has no %s listener", name)
	}
	host, _, err := splitHostPort(addr)
	if err != nil {
		return "", err
	}
	if host != broker.Name && host != broker.Hostname {
		return "", fmt.Errorf("listener %s advertises %s, not the broker's service name %q", name, addr, broker.Name)
	}
	return addr, nil
}

// checkHostListener checks that the broker advertises tutorialAddress and
// that Compose publishes that port to the listener behind it.
func checkHostListener(broker types.ServiceConfig) []error {
	advertised, err := listeners(broker, "KAFKA_ADVERTISED_LISTENERS")
	if err != nil {
		return []error{fmt.Errorf("%s: %w", brokerService, err)}
	}
	bound, err := listeners(broker, "KAFKA_LISTENERS")
	if err != nil {
		return []error{fmt.Errorf("%s: %w", brokerService, err)}
	}
	for name, addr := range advertised {
		if addr != tutorialAddress {
			continue
		}
		_, hostPort, err := splitHostPort(addr)
		if err != nil {
			return []error{err}
		}
		_, containerPort, err := splitHostPort(bound[name])
		if err != nil {
			return []error{fmt.Errorf("%s: KAFKA_LISTENERS, listener %s: %w", brokerService, name, err)}
		}
		for _, p := range broker.Ports {
			if p.Published == strconv.Itoa(hostPort) && int(p.Target) == containerPort {
				return nil
			}
		}
		return []error{fmt.Errorf("%s: listener %s advertises %s but host port %d is not published to container port %d",
			brokerService, name, addr, hostPort, containerPort)}
	}
	return []error{fmt.Errorf("%s: no listener advertises %s, where the tutorial's app and our binaries look by default",
		brokerService, tutorialAddress)}
}

// checkVoterNames checks that the controller quorum's voters name the broker
// by its service (or host) name, as the apache/kafka image's own examples
// do, not localhost: an address only the broker's own container can use.
func checkVoterNames(broker types.ServiceConfig) error {
	voters, ok := env(broker, "KAFKA_CONTROLLER_QUORUM_VOTERS")
	if !ok {
		return errors.New("KAFKA_CONTROLLER_QUORUM_VOTERS is not set")
	}
	for voter := range strings.SplitSeq(voters, ",") {
		_, addr, _ := strings.Cut(voter, "@")
		host, _, err := splitHostPort(addr)
		if err != nil {
			return fmt.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS: voter %q: %w", voter, err)
		}
		if host != broker.Name && host != broker.Hostname {
			return fmt.Errorf("KAFKA_CONTROLLER_QUORUM_VOTERS: voter %s is not at the broker's service name %q", voter, broker.Name)
		}
	}
	return nil
}

// checkSingleNode checks the settings a one-broker cluster cannot work
// without: Kafka's internal topics default to three replicas, and a group
// coordinator whose offsets topic cannot be created never answers.
func checkSingleNode(broker types.ServiceConfig) []error {
	var errs []error
	for _, key := range []string{"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"} {
		if _, ok := env(broker, key); !ok {
			errs = append(errs, fmt.Errorf("%s: %s is not set; its default of 3 cannot be met by one broker", brokerService, key))
		}
	}
	for key, value := range broker.Environment {
		if strings.HasSuffix(key, "_REPLICATION_FACTOR") && (value == nil || *value != "1") {
			errs = append(errs, fmt.Errorf("%s: %s must be 1 on a single broker", brokerService, key))
		}
	}
	return errs
}

// checkBrokerVersion checks that Compose runs the Kafka version the
// integration tests run in CI (deploy/kafka/pom.xml).
func checkBrokerVersion(broker types.ServiceConfig, root string) error {
	data, err := os.ReadFile(filepath.Join(root, "deploy", "kafka", "pom.xml"))
	if err != nil {
		return err
	}
	var pom struct {
		Properties struct {
			KafkaVersion string `xml:"kafka.version"`
		} `xml:"properties"`
	}
	if err := xml.Unmarshal(data, &pom); err != nil {
		return fmt.Errorf("deploy/kafka/pom.xml: %w", err)
	}
	ref, err := reference.ParseNormalizedNamed(broker.Image)
	if err != nil {
		return fmt.Errorf("image %q: %w", broker.Image, err)
	}
	tagged, ok := ref.(reference.Tagged)
	if !ok || tagged.Tag() != pom.Properties.KafkaVersion {
		return fmt.Errorf("image %s, but deploy/kafka/pom.xml runs Kafka %s in CI: keep them equal",
			broker.Image, pom.Properties.KafkaVersion)
	}
	return nil
}

// checkPinned accepts an image reference with a version tag or a digest.
func checkPinned(image string) error {
	if image == "" {
		return errors.New("is not set and the service has no build section")
	}
	ref, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return fmt.Errorf("%q: %w", image, err)
	}
	if _, ok := ref.(reference.Digested); ok {
		return nil
	}
	tagged, ok := ref.(reference.Tagged)
	if !ok {
		return fmt.Errorf("%s has no tag: pin a version", image)
	}
	if tagged.Tag() == "latest" {
		return fmt.Errorf("%s is latest: pin a version", image)
	}
	return nil
}

func hasHealthCheck(s types.ServiceConfig) bool {
	return s.HealthCheck != nil && !s.HealthCheck.Disable && len(s.HealthCheck.Test) > 1 &&
		(s.HealthCheck.Test[0] == "CMD" || s.HealthCheck.Test[0] == "CMD-SHELL")
}

func waitsForHealthyBroker(s types.ServiceConfig) bool {
	dep, ok := s.DependsOn[brokerService]
	return ok && dep.Condition == types.ServiceConditionHealthy
}

// env returns the value of key in the service's environment.
func env(s types.ServiceConfig, key string) (string, bool) {
	v, ok := s.Environment[key]
	if !ok || v == nil {
		return "", false
	}
	return *v, true
}

// listeners parses a Kafka listener list (NAME://host:port,...) from the
// broker's environment into name -> host:port.
func listeners(broker types.ServiceConfig, key string) (map[string]string, error) {
	value, ok := env(broker, key)
	if !ok {
		return nil, fmt.Errorf("%s is not set", key)
	}
	out := map[string]string{}
	for _, l := range strings.Split(value, ",") {
		name, addr, ok := strings.Cut(strings.TrimSpace(l), "://")
		if !ok {
			return nil, fmt.Errorf("%s: %q is not NAME://host:port", key, l)
		}
		out[name] = addr
	}
	return out, nil
}

func splitHostPort(addr string) (string, int, error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	port, err := strconv.Atoi(addr[i+1:])
	if err != nil || port <= 0 || port > 65535 {
		return "", 0, fmt.Errorf("%q is not host:port", addr)
	}
	return addr[:i], port, nil
}
