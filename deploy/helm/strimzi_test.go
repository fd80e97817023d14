package helm_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// kafkaManifest holds the Strimzi Kafka and KafkaNodePool of the example.
const kafkaManifest = "strimzi/kafka.yaml"

// runStrimziCheck reads docs (YAML, or JSON) into Strimzi's own API model
// with strimzi/strimzi.sh, which needs Java 17 and Maven, as make test-kafka
// does. It returns what the check printed and whether it passed.
func runStrimziCheck(t *testing.T, docs ...[]byte) (string, error) {
	t.Helper()
	for _, tool := range []string{"java", "mvn"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the Strimzi check needs Java 17 and Maven, as make test-kafka does: %v", err)
		}
	}
	dir := t.TempDir()
	var files []string
	for i, doc := range docs {
		f := filepath.Join(dir, fmt.Sprintf("doc%d.yaml", i))
		if err := os.WriteFile(f, doc, 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	cmd := exec.CommandContext(t.Context(), "bash", append([]string{"strimzi/strimzi.sh", "check"}, files...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// checkStrimzi fails the test unless each of the resources in docs, want
// of them, reads into its Strimzi class.
func checkStrimzi(t *testing.T, want int, docs ...[]byte) {
	t.Helper()
	out, err := runStrimziCheck(t, docs...)
	t.Logf("strimzi.sh check:\n%s", out)
	if err != nil {
		t.Errorf("Strimzi's API model refuses them: %v\n%s", err, out)
	}
	ok := 0
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "ok ") {
			ok++
		}
	}
	if ok != want {
		t.Errorf("the Strimzi check read %d resources, want %d", ok, want)
	}
}

// topicDocuments returns the objects as documents for the Strimzi check.
func topicDocuments(objs []object) [][]byte {
	var docs [][]byte
	for _, o := range objs {
		docs = append(docs, o.raw)
	}
	return docs
}

// strimziObjects reads kafka.yaml.
func strimziObjects(t *testing.T) []object {
	t.Helper()
	data, err := os.ReadFile(kafkaManifest)
	if err != nil {
		t.Fatal(err)
	}
	objs, err := parseManifests(string(data))
	if err != nil {
		t.Fatalf("%s: %v", kafkaManifest, err)
	}
	return objs
}

// TestStrimziCluster reads kafka.yaml into Strimzi's model and holds it to
// the chart's example values: the bootstrap service the services and KEDA
// dial is the Kafka's plain listener; three brokers hold the topics'
// replicas with one to spare over min.insync.replicas; the Topic Operator
// runs and owns the chart's KafkaTopics.
func TestStrimziCluster(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(kafkaManifest)
	if err != nil {
		t.Fatal(err)
	}
	objs := strimziObjects(t)
	checkStrimzi(t, len(objs), data)

	kafkas := find(objs, "Kafka")
	if len(kafkas) != 1 {
		t.Fatalf("%s: %d Kafka resources, want 1", kafkaManifest, len(kafkas))
	}
	k := kafkas[0]
	rendered := mustRender(t, example)
	settings := configMapData(t, rendered)
	vals, err := example.values()
	if err != nil {
		t.Fatal(err)
	}
	ns, _ := dig(vals, "strimzi", "namespace").(string)

	// The bootstrap service of the plain, internal listener.
	var listener map[string]any
	for _, l := range dig(k.content, "spec", "kafka", "listeners").([]any) {
		if l := l.(map[string]any); l["tls"] == false && l["type"] == "internal" {
			listener = l
		}
	}
	if listener == nil {
		t.Fatalf("%s: no plain internal listener", kafkaManifest)
	}
	bootstrap := fmt.Sprintf("%s-kafka-bootstrap.%s.svc:%v", k.name, ns, listener["port"])
	if settings["KAFKA_BROKERS"] != bootstrap {
		t.Errorf("KAFKA_BROKERS %q, want the bootstrap service of %s, %q", settings["KAFKA_BROKERS"], kafkaManifest, bootstrap)
	}
	if got, _ := dig(vals, "strimzi", "cluster").(string); got != k.name {
		t.Errorf("strimzi.cluster %q, but the Kafka is %q", got, k.name)
	}
	if dig(k.content, "spec", "entityOperator", "topicOperator") == nil {
		t.Errorf("%s: no Topic Operator: the KafkaTopics would never become topics", kafkaManifest)
	}

	// Brokers and controllers, and enough brokers for the replicas.
	roles := map[string]float64{}
	for _, p := range find(objs, "KafkaNodePool") {
		if cluster, _ := dig(p.content, "metadata", "labels", "strimzi.io/cluster").(string); cluster != k.name {
			t.Errorf("%s: strimzi.io/cluster %q, want %q", p, cluster, k.name)
		}
		for _, r := range dig(p.content, "spec", "roles").([]any) {
			roles[r.(string)] += dig(p.content, "spec", "replicas").(float64)
		}
	}
	config := dig(k.content, "spec", "kafka", "config").(map[string]any)
	if roles["controller"] < 3 || roles["broker"] < config["default.replication.factor"].(float64) {
		t.Errorf("node pools give %v nodes by role; want a quorum of 3 controllers and a broker per replica", roles)
	}
	for key, want := range map[string]any{
		"default.replication.factor": 3.0, "min.insync.replicas": 2.0, "offsets.topic.replication.factor": 3.0,
		"transaction.state.log.replication.factor": 3.0, "transaction.state.log.min.isr": 2.0, "auto.create.topics.enable": false,
	} {
		if config[key] != want {
			t.Errorf("%s: config %s is %v, want %v", kafkaManifest, key, config[key], want)
		}
	}
	if settings["TOPIC_REPLICATION_FACTOR"] != "3" {
		t.Errorf("TOPIC_REPLICATION_FACTOR %q, want 3 as the cluster's default", settings["TOPIC_REPLICATION_FACTOR"])
	}

	// Each KafkaTopic belongs to this cluster, in its namespace, with three
	// replicas of which two must take a write.
	topics := find(rendered, "KafkaTopic")
	if len(topics) == 0 {
		t.Fatal("the example renders no KafkaTopic")
	}
	for _, o := range topics {
		if got := dig(o.content, "metadata", "labels", "strimzi.io/cluster"); got != k.name {
			t.Errorf("%s: strimzi.io/cluster %v, want %s", o, got, k.name)
		}
		if got := dig(o.content, "metadata", "namespace"); got != ns {
			t.Errorf("%s: namespace %v, want the cluster's, %s", o, got, ns)
		}
		if got := dig(o.content, "metadata", "annotations", "helm.sh/resource-policy"); got != "keep" {
			t.Errorf("%s: helm uninstall would delete the topic and its records (resource-policy %v)", o, got)
		}
		r, isr := dig(o.content, "spec", "replicas"), dig(o.content, "spec", "config", "min.insync.replicas")
		if r != 3.0 || isr != 2.0 {
			t.Errorf("%s: replicas %v, min.insync.replicas %v; want 3 and 2", o, r, isr)
		}
	}
}

// TestStrimziCheckCatchesMistakes gives the Strimzi check resources broken
// in ways Strimzi's model must refuse, and expects each named.
func TestStrimziCheckCatchesMistakes(t *testing.T) {
	t.Parallel()
	topic := find(mustRender(t, example), "KafkaTopic")[0]
	broken := []struct {
		yaml string
		want string
	}{
		{strings.Replace(string(mustYAML(t, topic.raw)), "partitions:", "partition:", 1), "unknown property spec.partition"},
		{strings.Replace(string(mustYAML(t, topic.raw)), "replicas: 3", `replicas: "3"`, 1), "Cannot coerce String"},
		{strings.Replace(string(mustYAML(t, topic.raw)), "kafka.strimzi.io/v1", "kafka.strimzi.io/v2", 1), "apiVersion kafka.strimzi.io/v2"},
		{nodePool("[controller, broker]", "storage: {type: persistent-claim, size: 20Gi, deleteclaim: false}"), "unknown property spec.storage.deleteclaim"},
		{nodePool("[controller, brokers]", "storage: {type: ephemeral}"), `spec.roles[1]: "brokers" is not a value`},
		{nodePool("[controller, broker]", ""), "required property spec.storage is missing"},
		{nodePool("[controller, broker]", "storage: {type: disk}"), "disk"},
	}
	var docs [][]byte
	for _, b := range broken {
		docs = append(docs, []byte(b.yaml))
	}
	out, err := runStrimziCheck(t, docs...)
	if err == nil {
		t.Fatalf("the check passed broken resources:\n%s", out)
	}
	for i, b := range broken {
		line := lineFor(out, fmt.Sprintf("doc%d.yaml", i))
		if !strings.Contains(line, b.want) {
			t.Errorf("doc %d: the check says %q, want %q\n%s", i, line, b.want, b.yaml)
		}
	}
}

func nodePool(roles, storage string) string {
	return fmt.Sprintf(`apiVersion: kafka.strimzi.io/v1
kind: KafkaNodePool
metadata: {name: pool, labels: {strimzi.io/cluster: eventshop}}
spec:
  replicas: 3
  roles: %s
  %s
`, roles, storage)
}

// lineFor returns the check's lines about file.
func lineFor(out, file string) string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, file) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

func mustYAML(t *testing.T, j []byte) []byte {
	t.Helper()
	y, err := yaml.JSONToYAML(j)
	if err != nil {
		t.Fatal(err)
	}
	return y
}
