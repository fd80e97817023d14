package docker_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/compose-spec/compose-go/v2/types"
	"golang.org/x/sys/unix"
)

// bootPlanEnv carries, from TestComposeBootsOnApacheKafka to its run in
// namespaces of its own, what was prepared outside them: a bootPlan.
const bootPlanEnv = "EVENTSHOP_COMPOSE_BOOT_PLAN"

// bootPlan is what the boot needs from outside its namespaces, where the
// module proxy and Maven Central can be reached.
type bootPlan struct {
	Classpath string            // Apache Kafka's, from deploy/kafka
	Binaries  map[string]string // service -> binary its Dockerfile builds
}

// TestComposeBootsOnApacheKafka boots the compose configuration without
// Docker: Apache Kafka, from deploy/kafka's jars, configured from the kafka
// service's environment as the apache/kafka image configures itself, and the
// four services built by their Dockerfiles, run with the environment
// compose gives them (inventory-service three times). It checks what static
// checks cannot: both listeners answer with their advertised addresses, the
// controller answers at the voters' address, the three inventory members
// share the group's partitions evenly, the tutorial's orders flow, spans
// reach the OTLP endpoint, and every service stops cleanly on SIGTERM.
//
// Containers are stood in for by the test's own namespaces (user, mount,
// network, UTS, PID; no root needed): compose's host names kafka and jaeger
// resolve to the loopback in a hosts file of their own, as Docker's DNS
// resolves them to the containers, and compose's ports are free there. A
// stand-in for Jaeger accepts the spans.
//
// It runs a real Kafka, so it runs where the other tests run against one:
// in make test-kafka, which sets KAFKA_BROKERS.
func TestComposeBootsOnApacheKafka(t *testing.T) {
	if os.Getenv("KAFKA_BROKERS") == "" {
		t.Skip("runs Apache Kafka from deploy/kafka's jars: make test-kafka runs it (KAFKA_BROKERS set)")
	}
	if plan := os.Getenv(bootPlanEnv); plan != "" {
		bootCompose(t, plan)
		return
	}
	root := repoRoot(t)
	plan := bootPlan{Binaries: map[string]string{}}
	cmd := exec.CommandContext(t.Context(), "bash", filepath.Join(root, "deploy", "kafka", "kafka.sh"), "classpath")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("deploy/kafka/kafka.sh classpath: %v\n%s", err, stderrOf(err))
	}
	plan.Classpath = strings.TrimSpace(string(out))
	for _, name := range serviceNames(t, root) {
		plan.Binaries[name] = serviceImage(t, root, name).binary
	}
	data, err := json.Marshal(plan)
	if err != nil {
		t.Fatal(err)
	}
	started := time.Now()
	rerunInNamespaces(t, bootPlanEnv+"="+string(data))
	t.Logf("the compose configuration booted and passed in %s", time.Since(started).Round(time.Second))
}

func stderrOf(err error) []byte {
	if exit, ok := errors.AsType[*exec.ExitError](err); ok {
		return exit.Stderr
	}
	return nil
}

// rerunInNamespaces runs this test again, with env added, in new user,
// mount, network, UTS and PID namespaces: when it ends, so does everything
// it started. Its output is logged line by line.
func rerunInNamespaces(t *testing.T, env string) {
	args := []string{"-test.run=^" + t.Name() + "$", "-test.v", "-test.count=1"}
	if deadline, ok := t.Deadline(); ok {
		args = append(args, "-test.timeout="+time.Until(deadline).String())
	}
	// The test waits for it below, so its context never ends before it does.
	cmd := exec.CommandContext(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), env)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS | syscall.CLONE_NEWNET |
			syscall.CLONE_NEWUTS | syscall.CLONE_NEWPID,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
		Pdeathsig:   syscall.SIGKILL,
	}
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the test in namespaces of its own (are user namespaces allowed? see user.max_user_namespaces): %v", err)
	}
	logged := make(chan struct{})
	go func() {
		defer close(logged)
		sc := bufio.NewScanner(r)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			t.Log("| " + sc.Text())
		}
		_, _ = io.Copy(io.Discard, r) // past a line too long, so that the test never blocks on its output
	}()
	err := cmd.Wait()
	_ = w.Close() // a PipeWriter's Close always returns nil
	<-logged
	if err != nil {
		t.Fatalf("the boot failed: %v", err)
	}
}

// bootCompose is the test inside its namespaces.
func bootCompose(t *testing.T, planJSON string) {
	var plan bootPlan
	if err := json.Unmarshal([]byte(planJSON), &plan); err != nil {
		t.Fatal(err)
	}
	root := repoRoot(t)
	// The tutorial's sequence, orders placed only by the test: the
	// documented `SIMULATOR_INTERVAL=0 docker compose up`.
	project := loadCompose(t, root, "SIMULATOR_INTERVAL=0")
	broker, ok := project.Services[brokerService]
	if !ok {
		t.Fatalf("no %s service", brokerService)
	}
	hostname := broker.Hostname
	if hostname == "" {
		hostname = broker.Name
	}
	otlpEndpoint, _ := env(project.Services["order-service"], "OTEL_EXPORTER_OTLP_ENDPOINT")
	otlp, err := url.Parse(otlpEndpoint)
	if err != nil || otlp.Hostname() == "" {
		t.Fatalf("order-service: OTEL_EXPORTER_OTLP_ENDPOINT %q: want a URL naming Jaeger (%v)", otlpEndpoint, err)
	}
	enterContainerNetwork(t, hostname, otlp.Hostname())
	traces := startTraceSink(t, otlp.Host)

	began := time.Now()
	phase := func(what string) { t.Logf("%5.1fs %s", time.Since(began).Seconds(), what) }
	dir := t.TempDir()
	kafka := startKafka(t, plan.Classpath, broker, dir)
	// The JVM exits 143 (128+SIGTERM) after its shutdown hooks ran.
	t.Cleanup(func() { stopProcess(t, kafka, 30*time.Second, 143); phase("Kafka stopped") })
	phase("Kafka serving")
	checkListeners(t, broker)
	checkVoters(t, broker)

	shop := startShop(t, project, plan.Binaries)
	phase("services ready")
	inventory := project.Services["inventory-service"]
	partitionsText, _ := env(inventory, "TOPIC_PARTITIONS")
	partitions, err := strconv.Atoi(partitionsText)
	if err != nil {
		t.Fatalf("inventory-service: TOPIC_PARTITIONS: %v", err)
	}
	checkGroupShare(t, broker, "inventory-service-group", "new-order-topic", 3, partitions)
	phase("inventory group stable")
	checkOrdersFlow(t, shop)
	phase("orders flowed")
	// As docker compose down: the services at once, then what they depend on.
	var wg sync.WaitGroup
	for _, p := range shop.procs {
		wg.Go(func() {
			stopProcess(t, p, 30*time.Second, 0)
			phase(p.name + " stopped")
		})
	}
	wg.Wait()
	if n := traces.Load(); n == 0 {
		t.Errorf("no spans reached %s", otlpEndpoint)
	} else {
		t.Logf("%d exports of spans reached %s", n, otlpEndpoint)
	}
}

// enterContainerNetwork makes this network namespace look like the compose
// network to a container: the loopback up, and a hosts file (bind-mounted
// over /etc/hosts in this mount namespace only) in which the broker's host
// name, which is also the host name here as in the broker's container, and
// the other services' names are the loopback.
func enterContainerNetwork(t *testing.T, hostname string, services ...string) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	content := "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"127.0.0.1\t" + strings.Join(append([]string{hostname}, services...), " ") + "\n"
	if err := os.WriteFile(hosts, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		t.Fatalf("make the mounts private: %v", err)
	}
	if err := unix.Mount(hosts, "/etc/hosts", "", unix.MS_BIND, ""); err != nil {
		t.Fatalf("bind %s over /etc/hosts: %v", hosts, err)
	}
	if err := unix.Sethostname([]byte(hostname)); err != nil {
		t.Fatalf("sethostname: %v", err)
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unix.Close(fd) }() // only used for the ioctls
	lo, err := unix.NewIfreq("lo")
	if err == nil {
		err = unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, lo)
	}
	if err == nil {
		lo.SetUint16(lo.Uint16() | unix.IFF_UP)
		err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, lo)
	}
	if err != nil {
		t.Fatalf("bring the loopback up: %v", err)
	}
}

// startTraceSink stands in for Jaeger's OTLP/HTTP receiver at addr: it
// accepts every export of spans, so that the services flush at shutdown as
// they do under compose, and counts them.
func startTraceSink(t *testing.T, addr string) *atomic.Int64 {
	var exports atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		exports.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf") // an empty ExportTraceServiceResponse
	})
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	return &exports
}

// The apache/kafka image turns its environment into server.properties
// (docker/resources in Apache Kafka's repository): configureDefaults sets
// these variables when they are unset, and the image's utility turns every
// KAFKA_ variable but the excluded ones into a property.
var (
	kafkaImageDefaults = map[string]string{
		"CLUSTER_ID":                                     "5L6g3nShT-eMCtK--X86sw",
		"KAFKA_NODE_ID":                                  "1",
		"KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":           "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
		"KAFKA_LISTENERS":                                "PLAINTEXT://localhost:29092,CONTROLLER://localhost:29093,PLAINTEXT_HOST://0.0.0.0:9092",
		"KAFKA_ADVERTISED_LISTENERS":                     "PLAINTEXT://localhost:29092,PLAINTEXT_HOST://localhost:9092",
		"KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR":         "1",
		"KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS":         "0",
		"KAFKA_TRANSACTION_STATE_LOG_MIN_ISR":            "1",
		"KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
		"KAFKA_PROCESS_ROLES":                            "broker,controller",
		"KAFKA_CONTROLLER_QUORUM_VOTERS":                 "1@localhost:29093",
		"KAFKA_INTER_BROKER_LISTENER_NAME":               "PLAINTEXT",
		"KAFKA_CONTROLLER_LISTENER_NAMES":                "CONTROLLER",
		"KAFKA_LOG_DIRS":                                 "/tmp/kraft-combined-logs",
	}
	// As kafka-propertiesSpec.json lists them (KAFKA_HEAP_OPT, sic).
	kafkaImageExcluded = []string{
		"KAFKA_VERSION", "KAFKA_HEAP_OPT", "KAFKA_LOG4J_OPTS", "KAFKA_OPTS", "KAFKA_JMX_OPTS",
		"KAFKA_JVM_PERFORMANCE_OPTS", "KAFKA_GC_LOG_OPTS", "KAFKA_LOG4J_ROOT_LOGLEVEL",
		"KAFKA_LOG4J_LOGGERS", "KAFKA_TOOLS_LOG4J_LOGLEVEL",
	}
	loneUnderscore = regexp.MustCompile(`[^_]_[^_]`)
)

// kafkaImageConfig returns the properties and cluster id the apache/kafka
// image makes of env: KAFKA_FOO_BAR becomes foo.bar; in a name, ___ becomes
// - and __ becomes _.
func kafkaImageConfig(env map[string]string) (props map[string]string, clusterID string) {
	env = maps.Clone(env)
	if env["KAFKA_ZOOKEEPER_CONNECT"] == "" {
		for k, v := range kafkaImageDefaults {
			if env[k] == "" {
				env[k] = v
			}
		}
	}
	props = map[string]string{}
	for k, v := range env {
		if !strings.HasPrefix(k, "KAFKA") || len(k) <= len("KAFKA_") || slices.Contains(kafkaImageExcluded, k) {
			continue
		}
		name := loneUnderscore.ReplaceAllStringFunc(k[len("KAFKA_"):], func(s string) string { return strings.ReplaceAll(s, "_", ".") })
		name = strings.ReplaceAll(name, "___", "-")
		props[strings.ToLower(strings.ReplaceAll(name, "__", "_"))] = v
	}
	return props, env["CLUSTER_ID"]
}

func TestKafkaImageConfig(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"KAFKA_NODE_ID":            "7",
		"KAFKA_LOG_DIRS":           "/data",
		"KAFKA_CONFLUENT__SUPPORT": "x",
		"KAFKA_SASL___MECHANISM":   "y",
		"KAFKA_OPTS":               "-Dx=1",
		"OTHER":                    "z",
	}
	props, id := kafkaImageConfig(env)
	want := map[string]string{
		"node.id": "7", "log.dirs": "/data", "confluent_support": "x", "sasl-mechanism": "y",
		// configureDefaults' for what env leaves out, CLUSTER_ID too:
		"process.roles": "broker,controller", "controller.quorum.voters": "1@localhost:29093",
		"listeners":                      "PLAINTEXT://localhost:29092,CONTROLLER://localhost:29093,PLAINTEXT_HOST://0.0.0.0:9092",
		"advertised.listeners":           "PLAINTEXT://localhost:29092,PLAINTEXT_HOST://localhost:9092",
		"listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
		"inter.broker.listener.name":     "PLAINTEXT", "controller.listener.names": "CONTROLLER",
		"offsets.topic.replication.factor": "1", "group.initial.rebalance.delay.ms": "0",
		"transaction.state.log.min.isr": "1", "transaction.state.log.replication.factor": "1",
	}
	if wantID := "5L6g3nShT-eMCtK--X86sw"; id != wantID || !maps.Equal(props, want) {
		t.Errorf("got cluster id %q and\n%v\nwant %s and\n%v", id, props, wantID, want)
	}
}

// process is a program the boot started, its output kept in a file.
type process struct {
	name   string
	cmd    *exec.Cmd
	log    string        // stdout and stderr
	exited chan struct{} // closed once it has exited; err is then how
	err    error
}

// output returns what p has printed so far.
func (p *process) output() string {
	out, _ := os.ReadFile(p.log)
	return string(out)
}

// count returns how many lines of p's output contain text.
func (p *process) count(text string) int {
	n := 0
	for line := range strings.Lines(p.output()) {
		if strings.Contains(line, text) {
			n++
		}
	}
	return n
}

// start starts path with args, with env as its whole environment (the
// test's own if env is nil), under name; its output is logged if the test
// fails.
func start(t *testing.T, name string, env []string, path string, args ...string) *process {
	t.Helper()
	log, err := os.CreateTemp(t.TempDir(), name+"-*.log")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = log.Close() }() // the process has its own descriptor
	// Not CommandContext: the boot stops what it starts as Docker stops
	// containers (stopProcess: SIGTERM, then SIGKILL after a grace period),
	// the services first, then Kafka in a Cleanup. The test's context ends
	// before the Cleanups run: it would kill Kafka before that stop.
	cmd := exec.Command(path, args...) //nolint:noctx // see above
	cmd.Env = env
	p := &process{name: name, cmd: cmd, log: log.Name(), exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output of %s:\n%s", name, p.output())
		}
	})
	return p
}

// stopProcess stops p as Docker stops a container: SIGTERM, then SIGKILL
// after grace. It must exit on SIGTERM with one of the statuses given.
func stopProcess(t *testing.T, p *process, grace time.Duration, statuses ...int) {
	t.Helper()
	select {
	case <-p.exited:
		t.Errorf("%s had exited before it was stopped: %v", p.name, p.err)
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
		if status := p.cmd.ProcessState.ExitCode(); !slices.Contains(statuses, status) {
			t.Errorf("%s stopped with %v, want exit status %v", p.name, p.err, statuses)
		}
	case <-time.After(grace):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Errorf("%s did not stop within %s of SIGTERM", p.name, grace)
	}
}

// startKafka writes the broker's server.properties as the image would,
// formats its storage with CLUSTER_ID and starts it on deploy/kafka's
// classpath, and waits until it serves. Paths in the container (log.dirs)
// are under dir here.
func startKafka(t *testing.T, classpath string, broker types.ServiceConfig, dir string) *process {
	env := map[string]string{}
	for k, v := range broker.Environment {
		if v != nil {
			env[k] = *v
		}
	}
	props, clusterID := kafkaImageConfig(env)
	var logDirs []string
	for d := range strings.SplitSeq(props["log.dirs"], ",") {
		logDirs = append(logDirs, filepath.Join(dir, "container", d))
	}
	props["log.dirs"] = strings.Join(logDirs, ",")
	var conf strings.Builder
	for _, k := range slices.Sorted(maps.Keys(props)) {
		fmt.Fprintf(&conf, "%s=%s\n", k, props[k])
	}
	confFile := filepath.Join(dir, "server.properties")
	if err := os.WriteFile(confFile, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Logf("server.properties:\n%s", conf.String())

	java := "java"
	if home := os.Getenv("JAVA_HOME"); home != "" {
		java = filepath.Join(home, "bin", "java")
	}
	format := exec.CommandContext(t.Context(), java, "-Xmx256m", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-cp", classpath,
		"kafka.tools.StorageTool", "format", "--cluster-id="+clusterID, "-c", confFile)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("kafka-storage format: %v\n%s", err, out)
	}
	// kafka-server-start.sh's JVM flags, with kafka.sh's smaller heap.
	kafka := start(t, "kafka", nil, java, "-Xmx512m", "-Xms512m", "-server", "-XX:+UseG1GC",
		"-XX:MaxGCPauseMillis=20", "-XX:InitiatingHeapOccupancyPercent=35", "-XX:+ExplicitGCInvokesConcurrent",
		"-Djava.awt.headless=true", "-cp", classpath, "kafka.Kafka", confFile)

	internal, err := containerListener(broker)
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, 2*time.Minute, func() error {
		select {
		case <-kafka.exited:
			t.Fatalf("Kafka exited: %v", kafka.err)
		default:
		}
		_, err := metadataAt(internal)
		return err
	}, "Kafka serving at %s", internal)
	return kafka
}

// kafkaConfig is the client configuration of the test's own requests.
func kafkaConfig() *sarama.Config {
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V4_0_0_0
	cfg.ClientID = "compose-boot-test"
	cfg.Net.DialTimeout, cfg.Net.ReadTimeout = 5*time.Second, 10*time.Second
	return cfg
}

// metadataAt asks the broker at addr for the cluster's metadata.
func metadataAt(addr string) (*sarama.MetadataResponse, error) {
	cfg := kafkaConfig()
	b := sarama.NewBroker(addr)
	if err := b.Open(cfg); err != nil {
		return nil, err
	}
	defer func() { _ = b.Close() }() // the request has returned: nothing is pending
	return b.GetMetadata(sarama.NewMetadataRequest(cfg.Version, nil))
}

// checkListeners sends a metadata request to every advertised listener,
// dialled at its advertised address, as a client there does: the broker
// must name itself there by that same address.
func checkListeners(t *testing.T, broker types.ServiceConfig) {
	advertised, err := listeners(broker, "KAFKA_ADVERTISED_LISTENERS")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range slices.Sorted(maps.Keys(advertised)) {
		addr := advertised[name]
		md, err := metadataAt(addr)
		if err != nil {
			t.Errorf("listener %s at %s: %v", name, addr, err)
			continue
		}
		var got []string
		for _, b := range md.Brokers {
			got = append(got, b.Addr())
		}
		if !slices.Equal(got, []string{addr}) {
			t.Errorf("listener %s at %s: metadata names the brokers %v, want %s", name, addr, got, addr)
		} else {
			t.Logf("listener %s: a metadata request at %s names the broker %s", name, addr, got[0])
		}
	}
}

// checkVoters checks that every voter of KAFKA_CONTROLLER_QUORUM_VOTERS
// answers at its address as a controller: its API versions include Vote.
func checkVoters(t *testing.T, broker types.ServiceConfig) {
	voters, ok := env(broker, "KAFKA_CONTROLLER_QUORUM_VOTERS")
	if !ok {
		t.Fatal("KAFKA_CONTROLLER_QUORUM_VOTERS is not set")
	}
	const apiVote = 52
	for voter := range strings.SplitSeq(voters, ",") {
		_, addr, _ := strings.Cut(voter, "@")
		b := sarama.NewBroker(addr)
		if err := b.Open(kafkaConfig()); err != nil {
			t.Errorf("voter %s: %v", voter, err)
			continue
		}
		resp, err := b.ApiVersions(&sarama.ApiVersionsRequest{Version: 3, ClientSoftwareName: "compose-boot-test", ClientSoftwareVersion: "1"})
		_ = b.Close() // the request has returned: nothing is pending
		if err != nil {
			t.Errorf("voter %s: %v", voter, err)
			continue
		}
		if !slices.ContainsFunc(resp.ApiKeys, func(k sarama.ApiVersionsResponseKey) bool { return k.ApiKey == apiVote }) {
			t.Errorf("voter %s: what answers at %s is not a controller (no Vote among its APIs)", voter, addr)
		} else {
			t.Logf("voter %s: the controller answers at %s", voter, addr)
		}
	}
}

// shop is the services as compose runs them.
type shop struct {
	procs     []*process
	order     *process
	notify    *process
	logging   *process
	orderAddr string   // where the host reaches order-service's API
	inventory []string // each inventory instance's HTTP address
}

// startShop starts the four services with the environment compose gives
// them (their image's ENV, then compose's), inventory-service three times,
// and waits until each is ready. Here the three instances share one
// network, so the second and third listen 10 and 20 ports above compose's.
func startShop(t *testing.T, project *types.Project, binaries map[string]string) *shop {
	s := &shop{}
	run := func(name, httpAddr string) (*process, string) {
		svc, ok := project.Services[name]
		if !ok {
			t.Fatalf("no compose service %s", name)
		}
		binary := binaries[name]
		settings := readSettings(t, binary)
		env := map[string]string{}
		if httpAddr != "" {
			env["HTTP_ADDR"] = httpAddr
		}
		for k, v := range svc.Environment {
			if v != nil {
				env[k] = *v
			}
		}
		var environ []string
		for _, k := range slices.Sorted(maps.Keys(env)) {
			environ = append(environ, k+"="+env[k])
		}
		addr := cmp.Or(env["HTTP_ADDR"], settings.defaults["HTTP_ADDR"])
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatalf("%s: HTTP_ADDR %q: %v", name, addr, err)
		}
		p := start(t, name, environ, binary)
		s.procs = append(s.procs, p)
		return p, net.JoinHostPort("127.0.0.1", port)
	}
	s.order, s.orderAddr = run("order-service", "")
	for i := range 3 {
		httpAddr := ""
		if i > 0 {
			httpAddr = ":" + strconv.Itoa(8001+10*i)
		}
		_, addr := run("inventory-service", httpAddr)
		s.inventory = append(s.inventory, addr)
	}
	var notifyAddr, loggingAddr string
	s.notify, notifyAddr = run("notification-service", "")
	s.logging, loggingAddr = run("logging-service", "")
	for _, addr := range append([]string{s.orderAddr, notifyAddr, loggingAddr}, s.inventory...) {
		eventually(t, 90*time.Second, func() error {
			_, err := httpGet(t.Context(), "http://"+addr+"/readyz")
			return err
		}, "%s/readyz answering 200", addr)
	}
	return s
}

// checkGroupShare waits until group is stable with n members, each owning
// an equal share of the group's partitions, every partition of topic owned
// by one of them, and logs how topic's partitions are shared. It asks the
// group coordinator over the Kafka protocol (DescribeGroups). The group's
// sticky strategy balances the total, not each topic: how topic alone is
// shared may differ from one run to the next.
func checkGroupShare(t *testing.T, broker types.ServiceConfig, group, topic string, n, partitions int) {
	addr, err := containerListener(broker)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := sarama.NewClusterAdmin([]string{addr}, kafkaConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	eventually(t, 90*time.Second, func() error {
		groups, err := admin.DescribeConsumerGroups([]string{group})
		if err != nil {
			return err
		}
		g := groups[0]
		var totals, shares []int
		owners := map[string]int{} // topic/partition -> members owning it
		for _, m := range g.Members {
			a, err := m.GetMemberAssignment()
			if err != nil {
				return err
			}
			total := 0
			if a != nil { // nil until the member has an assignment
				for tp, ps := range a.Topics {
					total += len(ps)
					for _, p := range ps {
						owners[fmt.Sprintf("%s/%d", tp, p)]++
					}
				}
				shares = append(shares, len(a.Topics[topic]))
			}
			totals = append(totals, total)
		}
		slices.Sort(totals)
		slices.Sort(shares)
		owned := 0
		for tp, k := range owners {
			if k != 1 {
				return fmt.Errorf("%s is owned by %d members", tp, k)
			}
			if strings.HasPrefix(tp, topic+"/") {
				owned++
			}
		}
		if g.State != "Stable" || len(totals) != n || totals[0] != totals[n-1] || owned != partitions {
			return fmt.Errorf("%s is %s, its members own %v of its partitions and %d of %s's %d",
				group, g.State, totals, owned, topic, partitions)
		}
		t.Logf("%s: %d members own %v of its %d partitions; of %s's %d: %v",
			group, n, totals, len(owners), topic, partitions, shares)
		return nil
	}, "%d members of %s sharing its partitions evenly", n, group)
}

// checkOrdersFlow places the tutorial's sample order three times and checks
// what every service makes of it, as the tutorial does: PRODUCT-123 falls to
// 100 on the third order and is refilled to 109.
func checkOrdersFlow(t *testing.T, s *shop) {
	var ids []string
	for i := range 3 {
		id := fmt.Sprintf("ORDER-COMPOSE-%d", i+1)
		ids = append(ids, id)
		body := `{"orderId":"` + id + `","customerId":"CUSTOMER-123","products":[` +
			`{"productId":"PRODUCT-123","quantity":3,"totalPrice":80},{"productId":"PRODUCT-321","quantity":1,"totalPrice":233}]}`
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+s.orderAddr+"/orders", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /orders: %s %s", resp.Status, answer)
		}
	}
	for _, id := range ids {
		text := "Congrats CUSTOMER-123, your order " + id + " has been approved!"
		waitForLines(t, s.notify, text, 1)
	}
	waitForLines(t, s.notify, "Product PRODUCT-123 has to be REFILLED!", 1)
	for text, n := range map[string]int{
		"serviceName: order-service, action: new-order":             3,
		"serviceName: inventory-service, action: inventory-updated": 6,
		"serviceName: inventory-service, action: inventory-empty":   1,
	} {
		waitForLines(t, s.logging, "Logging Service: "+text, n)
	}
	for _, addr := range s.inventory {
		eventually(t, 30*time.Second, func() error {
			got, err := httpGet(t.Context(), "http://"+addr+"/stock")
			if want := `{"PRODUCT-123":109,"PRODUCT-321":106}`; err == nil && got != want {
				err = fmt.Errorf("stock %s, want %s", got, want)
			}
			return err
		}, "GET %s/stock", addr)
	}
	t.Logf("3 orders: notified, logged, and every inventory instance shows the stock after the refill")
}

// waitForLines waits until n lines of p's output contain text.
func waitForLines(t *testing.T, p *process, text string, n int) {
	eventually(t, 60*time.Second, func() error {
		if got := p.count(text); got != n {
			return fmt.Errorf("%d lines", got)
		}
		return nil
	}, "%s printing %q %d time(s)", p.name, text, n)
}

func httpGet(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, body)
	}
	return strings.TrimSpace(string(body)), err
}

// eventually calls check until it returns nil, and fails the test with its
// last error if that takes longer than timeout.
func eventually(t *testing.T, timeout time.Duration, check func() error, format string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for {
		err := check()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("waited %s for %s: %v", timeout, fmt.Sprintf(format, args...), err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
