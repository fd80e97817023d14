package helm_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

const (
	chartDir = "eventshop"
	// exampleValues are the values for the Strimzi cluster of
	// strimzi/kafka.yaml, with KEDA.
	exampleValues = "strimzi/values.yaml"
	release       = "eventshop"
	namespace     = "eventshop"
	// kubeVersion is the oldest Kubernetes the chart claims (Chart.yaml).
	kubeVersion = "v1.30.0"
	// serviceMonitorAPI is what a cluster with the Prometheus Operator lists.
	serviceMonitorAPI = "monitoring.coreos.com/v1/ServiceMonitor"
)

// services are the chart's services, as the repository's services/ holds them.
var services = []string{"inventory-service", "logging-service", "notification-service", "order-service"}

// consumers are the services that read Kafka in a consumer group.
var consumers = []string{"inventory-service", "logging-service", "notification-service"}

// rendering is one way of rendering the chart: values files and --set
// flags as the helm CLI takes them, and the API versions the cluster has.
type rendering struct {
	name  string
	files []string
	set   []string
	apis  []string
}

// The ways the tests render the chart: the defaults, the Strimzi example,
// and the example on a cluster with the Prometheus Operator.
var (
	defaults  = rendering{name: "default values"}
	example   = rendering{name: "example values", files: []string{exampleValues}}
	monitored = rendering{name: "example values with the Prometheus Operator", files: []string{exampleValues}, apis: []string{serviceMonitorAPI}}

	renderings = []rendering{defaults, example, monitored}
)

// object is one rendered manifest.
type object struct {
	source     string // the template it came from
	apiVersion string
	kind       string
	name       string
	raw        []byte         // the manifest as JSON
	content    map[string]any // the manifest decoded
}

// TestMain keeps Helm's note about the chart's one symbolic link out of the
// test output: eventshop/dashboards/eventshop.json links to
// deploy/observability's dashboard, and Helm says so at every load.
func TestMain(m *testing.M) {
	log.SetOutput(dropLines{prefix: "found symbolic link in path: ", next: log.Writer()})
	os.Exit(m.Run())
}

type dropLines struct {
	prefix string
	next   io.Writer
}

func (d dropLines) Write(p []byte) (int, error) {
	if _, line, _ := bytes.Cut(p, []byte(" ")); bytes.Contains(p, []byte(d.prefix)) && len(line) > 0 {
		return len(p), nil
	}
	return d.next.Write(p)
}

func (o object) String() string { return fmt.Sprintf("%s %s (%s)", o.kind, o.name, o.source) }

// values merges r's values files and --set flags as helm does.
func (r rendering) values() (map[string]any, error) {
	opts := values.Options{ValueFiles: r.files, Values: r.set}
	return opts.MergeValues(nil)
}

// render runs `helm template` on the chart with r, as release eventshop in
// namespace eventshop.
func render(r rendering) ([]object, error) {
	chrt, err := loader.Load(chartDir)
	if err != nil {
		return nil, err
	}
	vals, err := r.values()
	if err != nil {
		return nil, err
	}
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		return nil, err
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.DryRunOption = "client"
	install.ClientOnly = true
	install.Replace = true
	install.ReleaseName = release
	install.Namespace = namespace
	install.KubeVersion = kv
	install.APIVersions = chartutil.VersionSet(r.apis)
	rel, err := install.Run(chrt, vals)
	if err != nil {
		return nil, err
	}
	if len(rel.Hooks) > 0 {
		return nil, fmt.Errorf("the chart has %d hooks; the tests check only its manifests", len(rel.Hooks))
	}
	return parseManifests(rel.Manifest)
}

// parseManifests splits helm's output into objects. A duplicated key in a
// manifest is an error, as it is to the API server.
func parseManifests(manifest string) ([]object, error) {
	docs := releaseutil.SplitManifests(manifest)
	var objs []object
	for _, k := range slices.Sorted(maps.Keys(docs)) {
		doc := docs[k]
		source := "?"
		if _, rest, ok := strings.Cut(doc, "# Source: "); ok {
			source, _, _ = strings.Cut(rest, "\n")
		}
		raw, err := yaml.YAMLToJSONStrict([]byte(doc))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		var content map[string]any
		if err := json.Unmarshal(raw, &content); err != nil {
			return nil, fmt.Errorf("%s: %w", source, err)
		}
		o := object{source: source, raw: raw, content: content}
		o.apiVersion, _ = content["apiVersion"].(string)
		o.kind, _ = content["kind"].(string)
		if meta, ok := content["metadata"].(map[string]any); ok {
			o.name, _ = meta["name"].(string)
		}
		objs = append(objs, o)
	}
	return objs, nil
}

// mustRender renders r or fails the test.
func mustRender(t *testing.T, r rendering) []object {
	t.Helper()
	objs, err := render(r)
	if err != nil {
		t.Fatalf("render with %s: %v", r.name, err)
	}
	if len(objs) == 0 {
		t.Fatalf("render with %s: no objects", r.name)
	}
	return objs
}

// find returns the objects of kind.
func find(objs []object, kind string) []object {
	var out []object
	for _, o := range objs {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// serviceOf returns the service an object belongs to, by its
// app.kubernetes.io/name label.
func serviceOf(o object) string {
	labels, _ := dig(o.content, "metadata", "labels").(map[string]any)
	name, _ := labels["app.kubernetes.io/name"].(string)
	return name
}

// dig walks m along keys (string keys of maps, int indexes of lists).
func dig(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func TestLint(t *testing.T) {
	t.Parallel()
	kv, err := chartutil.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []rendering{defaults, example} {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			vals, err := r.values()
			if err != nil {
				t.Fatal(err)
			}
			lint := action.NewLint()
			lint.Strict = true
			lint.Namespace = namespace
			lint.KubeVersion = kv
			res := lint.Run([]string{chartDir}, vals)
			if res.TotalChartsLinted != 1 {
				t.Errorf("linted %d charts, want 1", res.TotalChartsLinted)
			}
			for _, m := range res.Messages {
				t.Logf("lint: %s", m)
			}
			for _, err := range res.Errors {
				t.Errorf("lint: %v", err)
			}
		})
	}
}

// TestValuesRefused renders the chart with values that would break the
// shop, and expects each to be refused with an error naming the value.
func TestValuesRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		set  []string
		want []string
	}{
		{"an unknown key", []string{"kafka.brokers=kafka:9092"}, []string{"kafka", "brokers"}},
		{"no partitions", []string{"kafka.partitions=0"}, []string{"kafka", "partitions"}},
		{"a broker without a port", []string{"kafka.bootstrapServers=kafka"}, []string{"bootstrapServers"}},
		{"a log level the services refuse", []string{"logLevel=verbose"}, []string{"logLevel"}},
		{"a setting the chart owns, as an env", []string{"services.order-service.env.KAFKA_BROKERS=x:1"}, []string{"services.order-service.env.KAFKA_BROKERS", "from kafka.bootstrapServers; set that instead"}},
		{"the order id window, which the topic's retention follows", []string{"services.inventory-service.env.ORDER_ID_WINDOW=2h"}, []string{"services.inventory-service.env.ORDER_ID_WINDOW", "changelog"}},
		{"a variable name the services do not read", []string{"services.logging-service.env.log_level=debug"}, []string{"/services/logging-service/env", "log_level"}},
		{"a group for order-service, which consumes nothing", []string{"services.order-service.consumerGroup=g"}, []string{"order-service", "consumerGroup"}},
		{"a service the shop does not have", []string{"services.payment-service.port=8004"}, []string{"services", "payment-service"}},
		{"a memory limit without a number", []string{"services.logging-service.resources.limits.memory=lots"}, []string{"logging-service", "memory"}},
		{
			"a grace period within the shutdown timeout",
			[]string{"terminationGracePeriodSeconds=20"},
			[]string{"terminationGracePeriodSeconds (20)", "services.order-service.preStopSleepSeconds (20)"},
		},
		{
			"a grace period equal to the shutdown timeout",
			[]string{"shutdownTimeoutSeconds=30"},
			[]string{"terminationGracePeriodSeconds (30) must exceed shutdownTimeoutSeconds"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := render(rendering{name: tt.name, files: []string{exampleValues}, set: tt.set})
			if err == nil {
				t.Fatalf("rendered with %v; want an error naming %q", tt.set, tt.want)
			}
			t.Logf("refused: %v", err)
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
