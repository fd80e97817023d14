package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/kafka/kafkatest"
	"github.com/eventshop/eventshop/pkg/service/servicetest"
)

// syncBuffer collects the output of many processes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// observedShop is the shop with Prometheus and Jaeger watching it.
type observedShop struct {
	prometheus  string // base URL
	jaeger      string // base URL of the query API
	orders      string // POST URL
	brokers     string
	p1, p2      string // the products of the tutorial's sample order
	inventories int
}

// startObservedShop starts Jaeger, Prometheus, the broker (unless
// KAFKA_BROKERS names one) and the services with two inventory instances,
// as make run-observed does, each on ports of its own. Cleanup stops all.
func startObservedShop(t *testing.T) *observedShop {
	t.Helper()
	out := &syncBuffer{}
	w := &lineWriter{out: out}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("output of the shop and the tools:\n%s", out.String())
		}
	})
	shop := &observedShop{p1: "PRODUCT-123", p2: "PRODUCT-321", inventories: 2}

	// Every service and instance on a port of its own, known to Prometheus.
	addr := map[string][]string{}
	for _, job := range jobs {
		addr[job] = []string{servicetest.FreeAddr(t)}
	}
	addr["inventory-service"] = append(addr["inventory-service"], servicetest.FreeAddr(t))
	port := func() int {
		_, p, _ := net.SplitHostPort(servicetest.FreeAddr(t))
		n, _ := strconv.Atoi(p)
		return n
	}
	obs := observers{
		configDir:      ".",
		runDir:         t.TempDir(),
		prometheus:     tools.prometheus,
		jaeger:         tools.jaeger,
		prometheusAddr: servicetest.FreeAddr(t),
		jaegerPorts:    jaegerPorts{query: port(), queryGRPC: port(), health: port(), otlpGRPC: port(), otlpHTTP: port()},
		targets:        addr,
	}
	shop.prometheus = "http://" + obs.prometheusAddr
	shop.jaeger = obs.jaegerPorts.queryURL()
	shop.orders = "http://" + addr["order-service"][0] + "/orders"

	ctx := context.Background()
	procs, err := obs.start(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stopAll(procs, 20*time.Second); err != nil {
			t.Errorf("stopping: %v", err)
		}
	})

	common := append([]string{"SIMULATOR_INTERVAL=0", "LOG_LEVEL=info", "OTEL_BSP_SCHEDULE_DELAY=200"}, obs.jaegerPorts.otlpEnv()...)
	env := map[string][]string{}
	if kafkatest.External() {
		// On a shared cluster, groups and products of this run's own:
		// orders of other runs name products this inventory does not hold.
		shop.brokers = kafkatest.Brokers(t)[0]
		shop.p1, shop.p2 = kafkatest.Name(t, "PRODUCT-123"), kafkatest.Name(t, "PRODUCT-321")
		env["inventory-service"] = []string{"INITIAL_STOCK=" + shop.p1 + "=109," + shop.p2 + "=109"}
		for _, s := range []string{"inventory-service", "notification-service", "logging-service"} {
			env[s] = append(env[s], "CONSUMER_GROUP="+kafkatest.Name(t, s))
		}
	} else {
		shop.brokers = servicetest.FreeAddr(t)
		broker, err := start("devkafka", filepath.Join(binDir, "devkafka"), []string{"-addr", shop.brokers}, nil, w)
		if err != nil {
			t.Fatal(err)
		}
		procs = append(procs, broker)
		dialer := net.Dialer{Timeout: 200 * time.Millisecond}
		kafkatest.Eventually(t, 15*time.Second, func() bool {
			conn, err := dialer.DialContext(t.Context(), "tcp", shop.brokers)
			if err == nil {
				conn.Close()
			}
			return err == nil
		}, "devkafka not listening on %s", shop.brokers)
	}
	for _, job := range jobs {
		for i, a := range addr[job] {
			name := job
			if i > 0 {
				name = fmt.Sprintf("%s-%d", job, i+1)
			}
			penv := append(slices.Clone(common), "KAFKA_BROKERS="+shop.brokers, "HTTP_ADDR="+a)
			p, err := start(name, filepath.Join(binDir, job), nil, append(penv, env[job]...), w)
			if err != nil {
				t.Fatal(err)
			}
			procs = append(procs, p)
		}
	}
	for _, job := range jobs {
		for _, a := range addr[job] {
			url := "http://" + a + "/readyz"
			kafkatest.Eventually(t, 90*time.Second, func() bool { return httpStatus(t.Context(), url) == http.StatusOK }, "%s not ready", url)
		}
	}
	return shop
}

// TestObservedShop runs the shop with a real Prometheus and a real Jaeger,
// as make run-observed does: Prometheus must answer every query of the
// dashboard and the alert rules with data, and Jaeger must hold an order's
// trace through the four services.
func TestObservedShop(t *testing.T) {
	t.Parallel()
	shop := startObservedShop(t)
	prom := promClient{base: shop.prometheus}
	ctx := t.Context()

	// The tutorial's sample order three times (the third takes
	// PRODUCT-123 to the threshold), and a record no consumer can decode,
	// which goes to the dead-letter topic.
	for range 3 {
		shop.postOrder(t)
	}
	producer, err := kafka.NewProducer(kafka.DefaultConfig(shop.brokers))
	if err != nil {
		t.Fatal(err)
	}
	defer producer.Close()
	if err := producer.Publish(ctx, kafka.Record{Topic: contracts.TopicNewOrder, Key: []byte("POISON"), Value: []byte("not an order")}); err != nil {
		t.Fatalf("publish a poison record: %v", err)
	}

	t.Run("Prometheus scrapes every instance", func(t *testing.T) {
		kafkatest.Eventually(t, 60*time.Second, func() bool {
			s, err := prom.query(ctx, `count by (job) (up == 1)`)
			if err != nil {
				return false
			}
			got := map[string]string{}
			for _, x := range s {
				got[x.Metric["job"]] = x.Value
			}
			return len(got) == 4 && got["inventory-service"] == strconv.Itoa(shop.inventories) &&
				got["order-service"] == "1" && got["notification-service"] == "1" && got["logging-service"] == "1"
		}, "up is not 1 for every instance (2 of inventory-service, 1 of the others)")
	})

	exprs := dashboardExpressions(loadDashboard(t))
	exprs = append(exprs, alertExpressions(t)...)
	t.Run("every dashboard and alert expression returns data", func(t *testing.T) {
		var errs []error
		deadline := time.Now().Add(90 * time.Second)
		for {
			errs = checkExpressions(ctx, prom, exprs)
			if len(errs) == 0 || time.Now().After(deadline) {
				break
			}
			time.Sleep(time.Second)
		}
		for _, err := range errs {
			t.Error(err)
		}
		t.Logf("%d expressions evaluated, each with data", len(exprs))
	})

	t.Run("a panel naming a metric no service exports fails", func(t *testing.T) {
		d := loadDashboard(t)
		d.Panels[0].Targets[0].Expr = strings.Replace(d.Panels[0].Targets[0].Expr,
			"eventshop_orders_placed_total", "eventshop_orders_lost_total", 1)
		errs := checkExpressions(ctx, prom, dashboardExpressions(d))
		panel := fmt.Sprintf("panel %q", d.Panels[0].Title)
		if len(errs) == 0 {
			t.Fatalf("a %s naming eventshop_orders_lost_total passes", panel)
		}
		for _, err := range errs {
			if !strings.Contains(err.Error(), panel) || !strings.Contains(err.Error(), "eventshop_orders_lost_total") {
				t.Errorf("%v: want only errors naming the broken %s and eventshop_orders_lost_total", err, panel)
			}
		}
	})

	t.Run("Prometheus evaluates the alert rules; the dead letter fires", func(t *testing.T) {
		kafkatest.Eventually(t, 60*time.Second, func() bool {
			firing, err := prom.firing(ctx)
			return err == nil && slices.Contains(firing, "DeadLetterRecords")
		}, "DeadLetterRecords is not firing after a poison record")
		rules, err := prom.ruleHealth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for name, health := range rules {
			if health != "ok" {
				t.Errorf("rule %s: health %s", name, health)
			}
		}
		if len(rules) != len(alertExpressions(t)) {
			t.Errorf("Prometheus loaded %d rules, alerts.yml has %d", len(rules), len(alertExpressions(t)))
		}
		firing, _ := prom.firing(ctx)
		if slices.ContainsFunc(firing, func(a string) bool { return a != "DeadLetterRecords" }) {
			t.Errorf("firing: %v; only DeadLetterRecords should be", firing)
		}
	})

	t.Run("Jaeger holds one order's trace across the four services", func(t *testing.T) {
		since := time.Now()
		id := shop.postOrder(t)
		// A trace with spans of one service only is a request it answered
		// alone (Prometheus's scrapes); the order's crosses services.
		var traces, crossing []jaegerTrace
		for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
			got, err := jaegerTraces(ctx, shop.jaeger, "order-service", since)
			if err != nil {
				t.Logf("jaeger: %v", err)
				continue
			}
			traces, crossing = got, crossServiceTraces(got)
			if len(crossing) == 1 && len(crossing[0].services()) == 4 {
				break
			}
		}
		if len(crossing) != 1 {
			t.Errorf("order %s: %d traces cross services, want 1", id, len(crossing))
		}
		want := []string{"inventory-service", "logging-service", "notification-service", "order-service"}
		for _, tr := range crossing {
			if got := tr.services(); !slices.Equal(got, want) {
				t.Errorf("trace %s holds spans of %v, want %v", tr.TraceID, got, want)
			}
		}
		if t.Failed() {
			for _, tr := range traces {
				t.Logf("trace %s: %s", tr.TraceID, tr.summary())
			}
			return
		}
		t.Logf("order %s: trace %s, %d spans: %s", id, crossing[0].TraceID, len(crossing[0].Spans), crossing[0].summary())
	})
}

// postOrder posts the tutorial's sample order with a new id and returns it.
func (s *observedShop) postOrder(t *testing.T) string {
	t.Helper()
	order := contracts.SampleOrder()
	order.OrderID = fmt.Sprintf("ORDER-OBSERVED-%d", time.Now().UnixNano())
	order.Products[0].ProductID, order.Products[1].ProductID = s.p1, s.p2
	body, _ := json.Marshal(order)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.orders, bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST %s: %v", s.orders, err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", s.orders, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %d %s, want 202", s.orders, resp.StatusCode, b)
	}
	return order.OrderID
}

func httpStatus(ctx context.Context, url string) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// expression is one PromQL query of the dashboard or the alert rules.
type expression struct {
	// where names it in a failure: the panel and query, or the alert.
	where string
	expr  string
	// alert marks a rule's condition, empty while the shop is healthy: its
	// selectors must select series, the whole need not return any.
	alert bool
	// legend is the panel's legend format; each {{label}} must be a label
	// of every series the query returns.
	legend string
}

func dashboardExpressions(d dashboard) []expression {
	var exprs []expression
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			e := tg.Expr
			for v, value := range grafanaVariables {
				e = strings.ReplaceAll(e, v, value)
			}
			exprs = append(exprs, expression{where: fmt.Sprintf("panel %q query %s", p.Title, tg.RefID), expr: e, legend: tg.LegendFormat})
		}
	}
	return exprs
}

func alertExpressions(t *testing.T) []expression {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("prometheus", "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Groups []struct {
			Rules []struct {
				Alert string `yaml:"alert"`
				Expr  string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatalf("alerts.yml: %v", err)
	}
	var exprs []expression
	for _, g := range file.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, expression{where: "alert " + r.Alert, expr: r.Expr, alert: true})
		}
	}
	return exprs
}

var legendLabel = regexp.MustCompile(`\{\{\s*(\w+)\s*\}\}`)

// checkExpressions evaluates each expression and each of its selectors on
// Prometheus now, and reports the ones without data: a selector that
// selects nothing names a metric (or a label value) that no service
// exports.
func checkExpressions(ctx context.Context, prom promClient, exprs []expression) []error {
	var errs []error
	for _, e := range exprs {
		result, err := prom.query(ctx, e.expr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.where, err))
			continue
		}
		if !e.alert && len(result) == 0 {
			errs = append(errs, fmt.Errorf("%s returns no data: %s", e.where, e.expr))
		}
		selectors, err := prom.selectors(ctx, e.expr)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", e.where, err))
			continue
		}
		for _, sel := range selectors {
			switch s, err := prom.query(ctx, sel); {
			case err != nil:
				errs = append(errs, fmt.Errorf("%s: %s: %w", e.where, sel, err))
			case len(s) == 0:
				errs = append(errs, fmt.Errorf("%s: %s selects no series", e.where, sel))
			}
		}
		for _, m := range legendLabel.FindAllStringSubmatch(e.legend, -1) {
			for _, s := range result {
				if _, ok := s.Metric[m[1]]; !ok {
					errs = append(errs, fmt.Errorf("%s: legend names %s, which series %v lack", e.where, m[1], s.Metric))
					break
				}
			}
		}
	}
	return errs
}

// promClient asks Prometheus's HTTP API.
type promClient struct{ base string }

// sample is one series of a query's result, or its scalar.
type sample struct {
	Metric map[string]string
	Value  string
}

func (c promClient) get(ctx context.Context, path string, params url.Values, data any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path+"?"+params.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: %s: %w", path, resp.Status, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s %s: %s", path, params.Encode(), body.Error)
	}
	return json.Unmarshal(body.Data, data)
}

// query runs an instant query.
func (c promClient) query(ctx context.Context, expr string) ([]sample, error) {
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := c.get(ctx, "/api/v1/query", url.Values{"query": {expr}}, &data); err != nil {
		return nil, err
	}
	switch data.ResultType {
	case "vector":
		var series []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &series); err != nil {
			return nil, err
		}
		out := make([]sample, len(series))
		for i, s := range series {
			out[i] = sample{Metric: s.Metric, Value: fmt.Sprint(s.Value[1])}
		}
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, err
		}
		return []sample{{Value: fmt.Sprint(v[1])}}, nil
	default:
		return nil, fmt.Errorf("query %s: result type %s, want an instant vector or scalar", expr, data.ResultType)
	}
}

// selectors parses expr with Prometheus's own parser (/api/v1/parse_query)
// and returns each series selector in it as a query of its own, without
// its range or offset.
func (c promClient) selectors(ctx context.Context, expr string) ([]string, error) {
	var ast any
	if err := c.get(ctx, "/api/v1/parse_query", url.Values{"query": {expr}}, &ast); err != nil {
		return nil, err
	}
	var out []string
	var walk func(node any)
	walk = func(node any) {
		switch n := node.(type) {
		case map[string]any:
			if n["type"] == "vectorSelector" || n["type"] == "matrixSelector" {
				var matchers []string
				for _, m := range n["matchers"].([]any) {
					m := m.(map[string]any)
					matchers = append(matchers, fmt.Sprintf("%s%s%s", m["name"], m["type"], strconv.Quote(m["value"].(string))))
				}
				slices.Sort(matchers)
				sel := "{" + strings.Join(matchers, ", ") + "}"
				if !slices.Contains(out, sel) {
					out = append(out, sel)
				}
				return
			}
			for _, v := range n {
				walk(v)
			}
		case []any:
			for _, v := range n {
				walk(v)
			}
		}
	}
	walk(ast)
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no series selector", expr)
	}
	return out, nil
}

// firing returns the names of the alerts firing now.
func (c promClient) firing(ctx context.Context) ([]string, error) {
	var data struct {
		Alerts []struct {
			Labels map[string]string `json:"labels"`
			State  string            `json:"state"`
		} `json:"alerts"`
	}
	if err := c.get(ctx, "/api/v1/alerts", nil, &data); err != nil {
		return nil, err
	}
	var names []string
	for _, a := range data.Alerts {
		if a.State == "firing" && !slices.Contains(names, a.Labels["alertname"]) {
			names = append(names, a.Labels["alertname"])
		}
	}
	return names, nil
}

// ruleHealth returns the health of each alert rule once every rule has
// been evaluated: ok, or err.
func (c promClient) ruleHealth(ctx context.Context) (map[string]string, error) {
	var data struct {
		Groups []struct {
			Rules []struct {
				Name      string `json:"name"`
				Health    string `json:"health"`
				LastError string `json:"lastError"`
			} `json:"rules"`
		} `json:"groups"`
	}
	if err := c.get(ctx, "/api/v1/rules", nil, &data); err != nil {
		return nil, err
	}
	health := map[string]string{}
	for _, g := range data.Groups {
		for _, r := range g.Rules {
			health[r.Name] = strings.TrimSpace(r.Health + " " + r.LastError)
		}
	}
	return health, nil
}

// jaegerTrace is a trace as Jaeger's HTTP API (/api/traces) returns it.
type jaegerTrace struct {
	TraceID string `json:"traceID"`
	Spans   []struct {
		OperationName string `json:"operationName"`
		ProcessID     string `json:"processID"`
	} `json:"spans"`
	Processes map[string]struct {
		ServiceName string `json:"serviceName"`
	} `json:"processes"`
}

// services returns the sorted names of the services with spans in tr.
func (tr jaegerTrace) services() []string {
	var names []string
	for _, s := range tr.Spans {
		if name := tr.Processes[s.ProcessID].ServiceName; !slices.Contains(names, name) {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// summary counts the spans of tr by service and operation.
func (tr jaegerTrace) summary() string {
	count := map[string]int{}
	for _, s := range tr.Spans {
		count[tr.Processes[s.ProcessID].ServiceName+" "+s.OperationName]++
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(count)) {
		parts = append(parts, fmt.Sprintf("%s x%d", k, count[k]))
	}
	return strings.Join(parts, ", ")
}

// crossServiceTraces keeps the traces with spans of more than one service:
// a request a service answers alone (a scrape of /metrics, say) is not an
// order.
func crossServiceTraces(traces []jaegerTrace) []jaegerTrace {
	var out []jaegerTrace
	for _, tr := range traces {
		if len(tr.services()) > 1 {
			out = append(out, tr)
		}
	}
	return out
}

// jaegerTraces returns the traces with spans of service that started
// after since.
func jaegerTraces(ctx context.Context, base, service string, since time.Time) ([]jaegerTrace, error) {
	params := url.Values{
		"service": {service},
		"start":   {strconv.FormatInt(since.UnixMicro(), 10)},
		"end":     {strconv.FormatInt(time.Now().Add(time.Minute).UnixMicro(), 10)},
		"limit":   {"100"},
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/traces?"+params.Encode(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("jaeger /api/traces: %s %s", resp.Status, b)
	}
	var body struct {
		Data []jaegerTrace `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, err
	}
	return body.Data, nil
}
