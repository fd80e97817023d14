package helm_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
)

// strictDecoder decodes the Kubernetes API's own kinds, and the Prometheus
// Operator's, failing on unknown and duplicated fields.
var strictDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, monitoringv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(err)
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// decodeStrict decodes o into its API type and checks its metadata as the
// API server would.
func decodeStrict(o object) (runtime.Object, error) {
	obj, _, err := strictDecoder.Decode(o.raw, nil, nil)
	if err != nil {
		return nil, err
	}
	accessor, ok := obj.(metav1.Object)
	if !ok {
		return nil, fmt.Errorf("%T has no metadata", obj)
	}
	nameFn := apivalidation.NameIsDNSSubdomain
	if o.kind == "Service" {
		nameFn = apivalidation.NameIsDNS1035Label
	}
	accessor.SetNamespace(namespace) // as helm install sets it
	if errs := apivalidation.ValidateObjectMetaAccessor(accessor, true, nameFn, field.NewPath("metadata")); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return obj, nil
}

// TestRenderedObjectsDecodeStrictly renders the chart every way and checks
// every object: the Kubernetes API's kinds and the ServiceMonitor decode
// strictly into their Go types; the ScaledObjects validate against KEDA's
// CRD; the KafkaTopics go to Strimzi's API model. A kind with no check fails.
func TestRenderedObjectsDecodeStrictly(t *testing.T) {
	t.Parallel()
	keda := loadScaledObjectCRD(t)
	var topics []object
	for _, r := range renderings {
		objs := mustRender(t, r)
		for _, o := range objs {
			switch o.kind {
			case "Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "ServiceMonitor":
				if _, err := decodeStrict(o); err != nil {
					t.Errorf("%s: %s: %v", r.name, o, err)
				}
			case "ScaledObject":
				for _, err := range keda.validate(o) {
					t.Errorf("%s: %s: %v", r.name, o, err)
				}
			case "KafkaTopic":
				topics = append(topics, o)
			default:
				t.Errorf("%s: %s: no check for kind %s", r.name, o, o.kind)
			}
		}
	}
	if len(topics) == 0 {
		t.Fatal("no rendering has KafkaTopics")
	}
	checkStrimzi(t, len(topics), topicDocuments(topics)...)
}

// TestStrictDecodingCatchesMistakes breaks rendered objects in ways a typo
// does, and expects the decoder to refuse each.
func TestStrictDecodingCatchesMistakes(t *testing.T) {
	t.Parallel()
	objs := mustRender(t, monitored)
	tests := []struct {
		kind   string
		mutate func(map[string]any)
		want   string
	}{
		{"Deployment", func(m map[string]any) {
			probe := dig(m, "spec", "template", "spec", "containers", 0, "livenessProbe").(map[string]any)
			probe["httpGett"] = probe["httpGet"]
		}, `unknown field "spec.template.spec.containers[0].livenessProbe.httpGett"`},
		{"Deployment", func(m map[string]any) {
			dig(m, "spec").(map[string]any)["replicas"] = "2"
		}, "spec.replicas"},
		{"Deployment", func(m map[string]any) {
			dig(m, "spec", "template", "spec", "containers", 0, "resources", "limits").(map[string]any)["memory"] = "128 MB"
		}, "quantities must match"},
		{"Service", func(m map[string]any) {
			dig(m, "metadata").(map[string]any)["name"] = "eventshop-order-service-"
		}, "metadata.name"},
		{"PodDisruptionBudget", func(m map[string]any) {
			dig(m, "spec").(map[string]any)["maxUnavaliable"] = 1
		}, `unknown field "spec.maxUnavaliable"`},
		{"ServiceMonitor", func(m map[string]any) {
			dig(m, "spec", "endpoints", 0).(map[string]any)["targetPath"] = "/metrics"
		}, `unknown field "spec.endpoints[0].targetPath"`},
	}
	for _, tt := range tests {
		o := find(objs, tt.kind)[0]
		var content map[string]any
		if err := json.Unmarshal(o.raw, &content); err != nil {
			t.Fatal(err)
		}
		tt.mutate(content)
		raw, err := json.Marshal(content)
		if err != nil {
			t.Fatal(err)
		}
		o.raw = raw
		_, err = decodeStrict(o)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s broken: got %v, want an error with %q", tt.kind, err, tt.want)
		}
	}
}

// deployments decodes the rendering's Deployments, by service.
func deployments(t *testing.T, objs []object) map[string]*appsv1.Deployment {
	t.Helper()
	out := map[string]*appsv1.Deployment{}
	for _, o := range find(objs, "Deployment") {
		obj, err := decodeStrict(o)
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		out[serviceOf(o)] = obj.(*appsv1.Deployment)
	}
	if got := slices.Sorted(maps.Keys(out)); !slices.Equal(got, services) {
		t.Fatalf("Deployments of %v, want one per service %v", got, services)
	}
	return out
}

// TestPods checks what each service's pod needs to run safely: the
// hardened security context, probes on /healthz and /readyz, a graceful
// stop that the kubelet waits for, and memory that the measured RSS fits.
func TestPods(t *testing.T) {
	t.Parallel()
	for _, r := range renderings {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			objs := mustRender(t, r)
			settings := configMapData(t, objs)
			shutdown, err := time.ParseDuration(settings["SHUTDOWN_TIMEOUT"])
			if err != nil {
				t.Fatalf("SHUTDOWN_TIMEOUT: %v", err)
			}
			for name, d := range deployments(t, objs) {
				checkPod(t, name, d, shutdown)
			}
		})
	}
}

func checkPod(t *testing.T, name string, d *appsv1.Deployment, shutdown time.Duration) {
	t.Helper()
	spec := d.Spec.Template.Spec
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("%s: selector %v does not match the pod's labels %v (%v)", name, d.Spec.Selector, d.Spec.Template.Labels, err)
	}
	if len(spec.Containers) != 1 {
		t.Fatalf("%s: %d containers, want 1", name, len(spec.Containers))
	}
	c := spec.Containers[0]

	// The restricted Pod Security Standard, and a user the kubelet can see
	// is not root (the image's "nonroot" is a name).
	psc := spec.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 {
		t.Errorf("%s: the pod must run as a numbered non-root user, has %+v", name, psc)
	}
	if psc == nil || psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("%s: the pod needs the RuntimeDefault seccomp profile", name)
	}
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Errorf("%s: the container has no security context", name)
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Errorf("%s: the root file system must be read-only", name)
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Errorf("%s: privilege escalation must be off", name)
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("%s: every capability must be dropped, none added: %+v", name, sc.Capabilities)
	}
	if spec.AutomountServiceAccountToken == nil || *spec.AutomountServiceAccountToken {
		t.Errorf("%s: the pod gets an API token it never uses", name)
	}

	// Probes: the paths pkg/health serves, on the port the service listens on.
	port := containerPort(t, name, c)
	if addr := envValue(c, "HTTP_ADDR"); addr != fmt.Sprintf(":%d", port) {
		t.Errorf("%s: HTTP_ADDR %q, but the container port is %d", name, addr, port)
	}
	for probe, want := range map[string]struct {
		p    *corev1.Probe
		path string
	}{"startup": {c.StartupProbe, "/healthz"}, "liveness": {c.LivenessProbe, "/healthz"}, "readiness": {c.ReadinessProbe, "/readyz"}} {
		p := want.p
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != want.path || p.HTTPGet.Port.String() != "http" {
			t.Errorf("%s: the %s probe must ask %s on port http, is %+v", name, probe, want.path, p)
		}
	}
	// /healthz answers once Kafka answered: the startup probe must wait
	// longer than the service waits for Kafka (KAFKA_STARTUP_TIMEOUT, 1m).
	if p := c.StartupProbe; p != nil && time.Duration(p.PeriodSeconds*p.FailureThreshold)*time.Second <= time.Minute {
		t.Errorf("%s: the startup probe gives up after %ds, before the service stops waiting for Kafka (60 s)", name, p.PeriodSeconds*p.FailureThreshold)
	}

	// The kubelet waits terminationGracePeriodSeconds from the preStop hook
	// on: the hook and the service's own stop must both fit.
	stop := shutdown
	if h := c.Lifecycle; h != nil && h.PreStop != nil && h.PreStop.Sleep != nil {
		stop += time.Duration(h.PreStop.Sleep.Seconds) * time.Second
	}
	if grace := spec.TerminationGracePeriodSeconds; grace == nil || time.Duration(*grace)*time.Second <= stop {
		t.Errorf("%s: terminationGracePeriodSeconds %v does not exceed SHUTDOWN_TIMEOUT plus the preStop sleep, %s", name, grace, stop)
	}

	// Memory: requested and limited, with Go's soft limit under the hard one.
	req, lim := c.Resources.Requests.Memory(), c.Resources.Limits.Memory()
	if req.IsZero() || lim.IsZero() || req.Cmp(*lim) > 0 || c.Resources.Requests.Cpu().IsZero() {
		t.Errorf("%s: resources %+v: want a CPU request, and a memory request within a memory limit", name, c.Resources)
	}
	soft, err := goMemLimit(envValue(c, "GOMEMLIMIT"))
	if err != nil {
		t.Errorf("%s: %v", name, err)
	} else if soft.Cmp(*req) < 0 || soft.Cmp(*lim) >= 0 {
		t.Errorf("%s: GOMEMLIMIT %s must lie between the memory request %s and limit %s", name, soft, req, lim)
	}
	for _, e := range c.Env {
		if msgs := validation.IsEnvVarName(e.Name); len(msgs) > 0 {
			t.Errorf("%s: env %s: %v", name, e.Name, msgs)
		}
	}
}

// goMemLimit parses GOMEMLIMIT as the Go runtime does (B, KiB, MiB, GiB).
func goMemLimit(s string) (*resource.Quantity, error) {
	n, unit := s, ""
	for _, u := range []string{"KiB", "MiB", "GiB", "B"} {
		if v, ok := strings.CutSuffix(s, u); ok {
			n, unit = v, strings.TrimSuffix(u, "B")
			break
		}
	}
	q, err := resource.ParseQuantity(n + unit)
	if err != nil || n == s {
		return nil, fmt.Errorf("GOMEMLIMIT %q: want a number of B, KiB, MiB or GiB", s)
	}
	return &q, nil
}

func containerPort(t *testing.T, name string, c corev1.Container) int32 {
	t.Helper()
	if len(c.Ports) != 1 || c.Ports[0].Name != "http" {
		t.Fatalf("%s: want one container port named http, have %+v", name, c.Ports)
	}
	return c.Ports[0].ContainerPort
}

func envValue(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

// configMapData returns the shared settings the services read through envFrom.
func configMapData(t *testing.T, objs []object) map[string]string {
	t.Helper()
	for _, o := range find(objs, "ConfigMap") {
		obj, err := decodeStrict(o)
		if err != nil {
			t.Fatalf("%s: %v", o, err)
		}
		if cm := obj.(*corev1.ConfigMap); strings.HasSuffix(cm.Name, "-settings") {
			return cm.Data
		}
	}
	t.Fatal("no settings ConfigMap")
	return nil
}

// TestEachServiceSelectsItsOwnPods checks that each Service and each
// PodDisruptionBudget selects the pods of one Deployment, its service's.
func TestEachServiceSelectsItsOwnPods(t *testing.T) {
	t.Parallel()
	objs := mustRender(t, example)
	deps := deployments(t, objs)
	for _, kind := range []string{"Service", "PodDisruptionBudget"} {
		found := map[string]bool{}
		for _, o := range find(objs, kind) {
			obj, err := decodeStrict(o)
			if err != nil {
				t.Fatalf("%s: %v", o, err)
			}
			var sel labels.Selector
			switch v := obj.(type) {
			case *corev1.Service:
				sel = labels.SelectorFromSet(v.Spec.Selector)
				if len(v.Spec.Ports) != 1 || v.Spec.Ports[0].TargetPort.String() != "http" {
					t.Errorf("%s: want one port to the container's http, have %+v", o, v.Spec.Ports)
				}
			case *policyv1.PodDisruptionBudget:
				if sel, err = metav1.LabelSelectorAsSelector(v.Spec.Selector); err != nil {
					t.Fatalf("%s: %v", o, err)
				}
				if v.Spec.MaxUnavailable == nil || v.Spec.MaxUnavailable.IntValue() != 1 {
					t.Errorf("%s: maxUnavailable %v, want 1", o, v.Spec.MaxUnavailable)
				}
			}
			var selected []string
			for name, d := range deps {
				if sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					selected = append(selected, name)
				}
			}
			if svc := serviceOf(o); len(selected) != 1 || selected[0] != svc {
				t.Errorf("%s of %s selects the pods of %v", o, svc, selected)
			}
			found[serviceOf(o)] = true
		}
		if got := slices.Sorted(maps.Keys(found)); !slices.Equal(got, services) {
			t.Errorf("%ss for %v, want one per service %v", kind, got, services)
		}
	}
}

// TestMonitoring: the ServiceMonitor comes only where its CRD is, scrapes
// every service's /metrics and names the job after the service, as the
// dashboard and the alert rules expect; the dashboard ConfigMap holds
// deploy/observability's dashboard as it is.
func TestMonitoring(t *testing.T) {
	t.Parallel()
	if got := find(mustRender(t, example), "ServiceMonitor"); len(got) != 0 {
		t.Errorf("a ServiceMonitor without the Prometheus Operator's API: %v", got)
	}
	objs := mustRender(t, monitored)
	sms := find(objs, "ServiceMonitor")
	if len(sms) != 1 {
		t.Fatalf("%d ServiceMonitors, want 1", len(sms))
	}
	obj, err := decodeStrict(sms[0])
	if err != nil {
		t.Fatal(err)
	}
	sm := obj.(*monitoringv1.ServiceMonitor)
	if sm.Spec.JobLabel != "app.kubernetes.io/name" || len(sm.Spec.Endpoints) != 1 ||
		sm.Spec.Endpoints[0].Port != "http" || sm.Spec.Endpoints[0].Path != "/metrics" {
		t.Errorf("ServiceMonitor %+v: want jobLabel app.kubernetes.io/name and one endpoint, port http, /metrics", sm.Spec)
	}
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	var scraped []string
	for _, o := range find(objs, "Service") {
		svc, err := decodeStrict(o)
		if err != nil {
			t.Fatal(err)
		}
		if l := svc.(*corev1.Service).Labels; sel.Matches(labels.Set(l)) {
			scraped = append(scraped, l["app.kubernetes.io/name"])
		}
	}
	if slices.Sort(scraped); !slices.Equal(scraped, services) {
		t.Errorf("the ServiceMonitor scrapes %v (jobs), want %v", scraped, services)
	}

	want, err := os.ReadFile("../observability/grafana/dashboards/eventshop.json")
	if err != nil {
		t.Fatal(err)
	}
	var dashboard *corev1.ConfigMap
	for _, o := range find(objs, "ConfigMap") {
		obj, err := decodeStrict(o)
		if err != nil {
			t.Fatal(err)
		}
		if cm := obj.(*corev1.ConfigMap); cm.Labels["grafana_dashboard"] == "1" {
			dashboard = cm
		}
	}
	if dashboard == nil {
		t.Fatal("no dashboard ConfigMap labelled grafana_dashboard=1")
	}
	if got := dashboard.Data["eventshop.json"]; strings.TrimSpace(got) != strings.TrimSpace(string(want)) {
		t.Errorf("the dashboard ConfigMap holds %d bytes, not deploy/observability's dashboard (%d bytes)", len(got), len(want))
	}
}
