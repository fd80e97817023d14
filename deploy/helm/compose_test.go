package helm_test

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/eventshop/eventshop/pkg/kafka/embedded"
)

// clusterOnly are the settings whose value differs on purpose between
// docker compose and the cluster, each with why.
var clusterOnly = map[string]string{
	"KAFKA_BROKERS":            "compose's one broker, kafka:9092, against Strimzi's bootstrap service",
	"TOPIC_REPLICATION_FACTOR": "one broker holds one replica; the cluster has three brokers",
	"LOG_FORMAT":               "console for people under compose, json for the cluster's log collector",
}

// chartOnly are the settings the chart gives that compose leaves to the
// services' defaults; the tests below check each against what compose
// runs.
var chartOnly = []string{
	"HTTP_ADDR",      // the container port: compose's port, and Prometheus's
	"CONSUMER_GROUP", // the group a KEDA trigger watches: the group compose's service joins
	"GOMEMLIMIT",     // Go's soft memory limit under the pod's hard one
}

// root is the repository's root, from this directory.
const root = "../.."

// loadCompose loads docker-compose.yml with the Compose specification's own
// loader, as docker compose does, variables at their defaults.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")}, cli.WithWorkingDirectory(root))
	if err == nil {
		var project *types.Project
		if project, err = opts.LoadProject(context.Background()); err == nil {
			return project
		}
	}
	t.Fatalf("docker-compose.yml: %v", err)
	return nil
}

// composeEnv returns the environment compose gives a service.
func composeEnv(t *testing.T, p *types.Project, service string) map[string]string {
	t.Helper()
	svc, ok := p.Services[service]
	if !ok {
		t.Fatalf("docker-compose.yml has no service %s", service)
	}
	env := map[string]string{}
	for k, v := range svc.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	return env
}

// chartEnv returns the environment the chart gives a service's container:
// the shared ConfigMap and the container's own variables.
func chartEnv(t *testing.T, objs []object, c corev1.Container) map[string]string {
	t.Helper()
	env := maps.Clone(configMapData(t, objs))
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	return env
}

// composeRendering renders the example with tracing to where compose
// sends it, so that only the clusterOnly settings may differ.
func composeRendering(t *testing.T, p *types.Project) rendering {
	t.Helper()
	r := example
	r.name = "example values, tracing as compose has it"
	if endpoint := composeEnv(t, p, "order-service")["OTEL_EXPORTER_OTLP_ENDPOINT"]; endpoint != "" {
		r.set = []string{"tracing.otlpEndpoint=" + endpoint}
	}
	return r
}

// TestChartAgreesWithCompose holds each service's settings, port and stop
// to docker-compose.yml's: the same variables with the same values, but
// for the few the cluster must set otherwise (clusterOnly).
func TestChartAgreesWithCompose(t *testing.T) {
	t.Parallel()
	project := loadCompose(t)
	objs := mustRender(t, composeRendering(t, project))
	deps := deployments(t, objs)
	scrapePorts := prometheusPorts(t)
	for _, name := range services {
		d := deps[name]
		c := d.Spec.Template.Spec.Containers[0]
		want, got := composeEnv(t, project, name), chartEnv(t, objs, c)
		for k, v := range want {
			switch g, ok := got[k]; {
			case !ok:
				t.Errorf("%s: compose sets %s=%q; the chart does not", name, k, v)
			case clusterOnly[k] == "" && g != v:
				t.Errorf("%s: %s is %q under compose, %q in the chart", name, k, v, g)
			case clusterOnly[k] != "" && g == v:
				t.Errorf("%s: %s is %q in both; the cluster needs its own (%s)", name, k, v, clusterOnly[k])
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok && !slices.Contains(chartOnly, k) {
				t.Errorf("%s: the chart sets %s, which compose does not; add it to compose or to chartOnly with why", name, k)
			}
		}

		// The port: the one compose publishes or exposes, and the one its
		// Prometheus scrapes.
		port := containerPort(t, name, c)
		for _, p := range project.Services[name].Ports {
			if int(p.Target) != int(port) {
				t.Errorf("%s: compose's port targets %d, the chart's container listens on %d", name, p.Target, port)
			}
		}
		if scrapePorts[name] != int(port) {
			t.Errorf("%s: compose's Prometheus scrapes port %d, the chart's container listens on %d", name, scrapePorts[name], port)
		}

		// Compose waits stop_grace_period after SIGTERM, the kubelet
		// terminationGracePeriodSeconds: the same stop.
		grace := project.Services[name].StopGracePeriod
		if grace == nil || time.Duration(*d.Spec.Template.Spec.TerminationGracePeriodSeconds)*time.Second != time.Duration(*grace) {
			t.Errorf("%s: compose's stop_grace_period %v, the chart's terminationGracePeriodSeconds %d", name, grace, *d.Spec.Template.Spec.TerminationGracePeriodSeconds)
		}
	}
}

// prometheusPorts reads the port compose's Prometheus scrapes each service
// on (deploy/observability/prometheus/prometheus.yml, its job per service).
func prometheusPorts(t *testing.T) map[string]int {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(root, "deploy", "observability", "prometheus", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName      string `json:"job_name"`
			DNSSDConfigs []struct {
				Port int `json:"port"`
			} `json:"dns_sd_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	ports := map[string]int{}
	for _, sc := range cfg.ScrapeConfigs {
		for _, d := range sc.DNSSDConfigs {
			ports[sc.JobName] = d.Port
		}
	}
	return ports
}

// TestChartAgreesWithComposeServices runs the four services as compose
// configures them, on an embedded broker, and holds the chart to what they
// do: the topics they create are the KafkaTopics, with the same partitions
// and settings, and the groups they join, with the topics each reads, are
// the ScaledObjects' triggers.
func TestChartAgreesWithComposeServices(t *testing.T) {
	t.Parallel()
	project := loadCompose(t)
	objs := mustRender(t, composeRendering(t, project))
	bin := buildServices(t)

	broker, err := embedded.Start(embedded.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(broker.Close)
	for _, name := range services {
		env := composeEnv(t, project, name)
		env["KAFKA_BROKERS"] = broker.Addr()       // compose's broker is kafka:9092
		env["HTTP_ADDR"] = "127.0.0.1:0"           // compose gives each its own network
		delete(env, "OTEL_EXPORTER_OTLP_ENDPOINT") // no Jaeger here
		startService(t, filepath.Join(bin, name), env)
	}

	want := wantedTopics(t, objs)
	groups := wantedGroups(t, objs)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	topics, joined := waitForShop(ctx, t, mustClient(t, broker.Addr()))

	if got := slices.Sorted(maps.Keys(topics)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Errorf("the services create the topics %v; the chart's KafkaTopics are %v", got, slices.Sorted(maps.Keys(want)))
	}
	for name, w := range want {
		got, ok := topics[name]
		if !ok {
			continue
		}
		if got.partitions != w.partitions {
			t.Errorf("topic %s: %d partitions as compose runs it, %d in its KafkaTopic", name, got.partitions, w.partitions)
		}
		if !maps.Equal(got.config, w.config) {
			t.Errorf("topic %s: the service sets %v, its KafkaTopic %v (the Topic Operator would undo the difference)", name, got.config, w.config)
		}
	}
	for group, wantTopics := range groups {
		if got := joined[group]; !slices.Equal(got, wantTopics) {
			t.Errorf("group %s reads %v as compose runs it; the chart's KEDA triggers watch %v", group, got, wantTopics)
		}
	}
	if extra := slices.DeleteFunc(slices.Sorted(maps.Keys(joined)), func(g string) bool { _, ok := groups[g]; return ok }); len(extra) > 0 {
		t.Errorf("groups %v run under compose with no ScaledObject in the chart", extra)
	}
}

type topicInfo struct {
	partitions int
	config     map[string]string
}

// wantedTopics reads the chart's KafkaTopics, without the settings the
// services leave to the cluster (min.insync.replicas).
func wantedTopics(t *testing.T, objs []object) map[string]topicInfo {
	t.Helper()
	out := map[string]topicInfo{}
	for _, o := range find(objs, "KafkaTopic") {
		info := topicInfo{partitions: int(dig(o.content, "spec", "partitions").(float64)), config: map[string]string{}}
		cfg, _ := dig(o.content, "spec", "config").(map[string]any)
		for k, v := range cfg {
			if k != "min.insync.replicas" {
				info.config[k] = fmt.Sprint(v)
			}
		}
		name := o.name
		if tn, ok := dig(o.content, "spec", "topicName").(string); ok {
			name = tn
		}
		out[name] = info
	}
	if len(out) == 0 {
		t.Fatal("no KafkaTopic rendered")
	}
	return out
}

// wantedGroups reads the groups and topics the chart's ScaledObjects watch.
func wantedGroups(t *testing.T, objs []object) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, o := range find(objs, "ScaledObject") {
		for _, trig := range dig(o.content, "spec", "triggers").([]any) {
			meta := dig(trig, "metadata").(map[string]any)
			g := meta["consumerGroup"].(string)
			out[g] = append(out[g], meta["topic"].(string))
		}
	}
	for g := range out {
		slices.Sort(out[g])
	}
	if len(out) == 0 {
		t.Fatal("no ScaledObject rendered")
	}
	return out
}

// waitForShop waits until a group per consumer has members, then returns
// the topics the services made, with the partitions and the settings each
// service set, and the topics each group's members read. Every service
// ensures its topics before it joins a group or serves.
func waitForShop(ctx context.Context, t *testing.T, cl *kgo.Client) (map[string]topicInfo, map[string][]string) {
	t.Helper()
	var last error
	for {
		made, joined, err := observe(ctx, cl)
		if err == nil && len(joined) >= len(consumers) {
			return made, joined
		}
		if err == nil {
			err = fmt.Errorf("groups with members: %v", slices.Sorted(maps.Keys(joined)))
		}
		last = err
		select {
		case <-ctx.Done():
			t.Fatalf("the services did not set up their topics and groups: %v", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func observe(ctx context.Context, cl *kgo.Client) (map[string]topicInfo, map[string][]string, error) {
	// Every topic, asked of the broker each time (kadm's ListTopics may
	// answer from a cache taken before the services made theirs).
	meta, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl)
	if err != nil {
		return nil, nil, err
	}
	made := map[string]topicInfo{}
	var names []string
	for _, tp := range meta.Topics {
		if err := kerr.ErrorForCode(tp.ErrorCode); err != nil || tp.Topic == nil {
			return nil, nil, fmt.Errorf("metadata of topic %v: %w", tp.Topic, err)
		}
		made[*tp.Topic] = topicInfo{partitions: len(tp.Partitions), config: map[string]string{}}
		names = append(names, *tp.Topic)
	}
	admin := kadm.NewClient(cl)
	configs, err := admin.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return nil, nil, err
	}
	for _, rc := range configs {
		if rc.Err != nil {
			return nil, nil, fmt.Errorf("configs of %s: %w", rc.Name, rc.Err)
		}
		for _, c := range rc.Configs {
			if c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				made[rc.Name].config[c.Key] = c.MaybeValue()
			}
		}
	}
	listed, err := admin.ListGroups(ctx)
	if err != nil {
		return nil, nil, err
	}
	described, err := admin.DescribeGroups(ctx, listed.Groups()...)
	if err != nil {
		return nil, nil, err
	}
	joined := map[string][]string{}
	for _, g := range described {
		for _, m := range g.Members {
			if c, ok := m.Join.AsConsumer(); ok {
				for _, topic := range c.Topics {
					if !slices.Contains(joined[g.Group], topic) {
						joined[g.Group] = append(joined[g.Group], topic)
					}
				}
			}
		}
		slices.Sort(joined[g.Group])
	}
	return made, joined, nil
}

func mustClient(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// buildServices builds the four services as make build does (in the
// workspace, so the build cache it filled serves here too).
func buildServices(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GOWORK=") })
	for _, name := range services {
		cmd := exec.CommandContext(t.Context(), "go", "build", "-o", filepath.Join(bin, name), ".")
		cmd.Dir = filepath.Join(root, "services", name)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", name, err, out)
		}
	}
	return bin
}

// startService runs a service binary with exactly env, and stops it with
// SIGTERM at the end of the test.
func startService(t *testing.T, path string, env map[string]string) {
	t.Helper()
	// Not CommandContext: the test's context ends before its Cleanups run,
	// and the service must get the SIGTERM below, not a kill.
	cmd := exec.Command(path) //nolint:noctx // stopped by the Cleanup's SIGTERM, see above
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v after SIGTERM, want a clean stop", filepath.Base(path), err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done //nolint:errcheck // killed: its exit status says nothing more
			t.Errorf("%s did not stop within 30 s of SIGTERM", filepath.Base(path))
		}
		if t.Failed() {
			t.Logf("%s's output:\n%s", filepath.Base(path), out.String())
		}
	})
}
