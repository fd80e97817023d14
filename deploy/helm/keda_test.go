package helm_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	kedav1alpha1 "github.com/kedacore/keda/v2/apis/keda/v1alpha1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"sigs.k8s.io/yaml"
)

// kedaModule is the released KEDA Go module whose CRD and kafka scaler the
// ScaledObjects are checked against; go.mod pins its version.
const kedaModule = "github.com/kedacore/keda/v2"

var (
	kedaDirOnce sync.Once
	kedaDir     string
	kedaDirErr  error
)

// kedaModuleDir returns where the KEDA module go.mod names is unpacked in
// the module cache (checked against go.sum when it was downloaded).
func kedaModuleDir(t *testing.T) string {
	t.Helper()
	kedaDirOnce.Do(func() {
		cmd := exec.CommandContext(t.Context(), "go", "list", "-m", "-f", "{{.Dir}}", kedaModule)
		cmd.Env = append(os.Environ(), "GOWORK=off")
		out, err := cmd.Output()
		if err != nil {
			kedaDirErr = fmt.Errorf("go list -m %s: %w", kedaModule, err)
			return
		}
		kedaDir = strings.TrimSpace(string(out))
		if kedaDir == "" {
			kedaDirErr = fmt.Errorf("go list -m %s: not downloaded (go mod download %s)", kedaModule, kedaModule)
		}
	})
	if kedaDirErr != nil {
		t.Fatal(kedaDirErr)
	}
	return kedaDir
}

// crdValidator validates a custom resource as the API server does on create
// (apiextensions-apiserver's customResourceStrategy.Validate, step by step):
// unknown fields, which it would prune and strict field validation refuses;
// the metadata; the OpenAPI schema, after the schema's defaults; embedded
// objects; list types; and the CRD's CEL rules.
type crdValidator struct {
	gvk        schema.GroupVersionKind
	structural *structuralschema.Structural
	schema     validation.SchemaValidator
	cel        *cel.Validator
}

// loadScaledObjectCRD reads KEDA's ScaledObject CRD from the KEDA module.
func loadScaledObjectCRD(t *testing.T) *crdValidator {
	t.Helper()
	path := filepath.Join(kedaModuleDir(t), "config", "crd", "bases", "keda.sh_scaledobjects.yaml")
	v, err := newCRDValidator(path, "v1alpha1")
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newCRDValidator(path, version string) (*crdValidator, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := yaml.UnmarshalStrict(data, &crd); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, v := range crd.Spec.Versions {
		if v.Name != version || v.Schema == nil {
			continue
		}
		var internal apiextensions.JSONSchemaProps
		if err := apiextensionsv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
			return nil, err
		}
		structural, err := structuralschema.NewStructural(&internal)
		if err != nil {
			return nil, fmt.Errorf("%s: not a structural schema: %w", path, err)
		}
		validator, _, err := validation.NewSchemaValidator(&internal)
		if err != nil {
			return nil, err
		}
		return &crdValidator{
			gvk:        schema.GroupVersionKind{Group: crd.Spec.Group, Version: v.Name, Kind: crd.Spec.Names.Kind},
			structural: structural,
			schema:     validator,
			cel:        cel.NewValidator(structural, true, celconfig.PerCallLimit),
		}, nil
	}
	return nil, fmt.Errorf("%s: no version %s with a schema", path, version)
}

// blocking are the errors after which the API server does not run CEL rules.
var blocking = []field.ErrorType{field.ErrorTypeNotSupported, field.ErrorTypeRequired, field.ErrorTypeTooLong,
	field.ErrorTypeTooMany, field.ErrorTypeTypeInvalid}

// validate returns every reason the API server would refuse o.
func (v *crdValidator) validate(o object) []error {
	if o.apiVersion != v.gvk.GroupVersion().String() || o.kind != v.gvk.Kind {
		return []error{fmt.Errorf("apiVersion %s kind %s, want %s", o.apiVersion, o.kind, v.gvk)}
	}
	// As the API server reads it: whole numbers as int64, which CEL needs.
	var content map[string]any
	if err := utiljson.Unmarshal(o.raw, &content); err != nil {
		return []error{err}
	}
	var errs []error
	meta, _, unknown, err := objectmeta.GetObjectMetaWithOptions(content, objectmeta.ObjectMetaOptions{ReturnUnknownFieldPaths: true})
	if err != nil {
		return append(errs, fmt.Errorf("metadata: %w", err))
	}
	if meta == nil {
		return append(errs, errors.New("metadata: none"))
	}
	unknown = append(unknown, pruning.PruneWithOptions(content, v.structural, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})...)
	for _, path := range unknown {
		errs = append(errs, fmt.Errorf("unknown field %q", path))
	}
	meta.Namespace = namespace // as helm install sets it
	all := apivalidation.ValidateObjectMeta(meta, true, apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	defaulting.Default(content, v.structural)
	all = append(all, validation.ValidateCustomResource(nil, content, v.schema)...)
	all = append(all, objectmeta.Validate(context.Background(), nil, content, v.structural, false)...)
	all = append(all, listtype.ValidateListSetsAndMaps(nil, v.structural, content)...)
	// The API server skips the CEL rules when an error leaves the object
	// too broken to evaluate them.
	if !slices.ContainsFunc(all, func(e *field.Error) bool { return slices.Contains(blocking, e.Type) }) {
		celErrs, _ := v.cel.Validate(context.Background(), nil, v.structural, content, nil, celconfig.RuntimeCELCostBudget)
		all = append(all, celErrs...)
	}
	for _, e := range all {
		errs = append(errs, e)
	}
	return errs
}

// kedaDecoder decodes into KEDA's own Go types, failing on unknown fields.
var kedaDecoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	if err := kedav1alpha1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// kafkaTriggerKeys reads, from KEDA's kafka scaler, the metadata keys a
// kafka trigger takes: the `keda:"name=..."` tags of its metadata struct
// that may come from triggerMetadata, with the values an enum allows and
// whether the key is required (neither optional nor defaulted).
func kafkaTriggerKeys(t *testing.T) map[string]triggerKey {
	t.Helper()
	path := filepath.Join(kedaModuleDir(t), "pkg", "scalers", "kafka_scaler.go")
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	keys := map[string]triggerKey{}
	ast.Inspect(f, func(n ast.Node) bool {
		spec, ok := n.(*ast.TypeSpec)
		if !ok || spec.Name.Name != "kafkaMetadata" {
			return true
		}
		for _, fld := range spec.Type.(*ast.StructType).Fields.List {
			if fld.Tag == nil {
				continue
			}
			tag, err := strconv.Unquote(fld.Tag.Value)
			if err != nil {
				t.Fatal(err)
			}
			k, ok := parseKedaTag(reflect.StructTag(tag).Get("keda"))
			if ok && slices.Contains(k.order, "triggerMetadata") {
				keys[k.name] = k
			}
		}
		return false
	})
	for _, want := range []string{"bootstrapServers", "consumerGroup", "topic", "lagThreshold"} {
		if _, ok := keys[want]; !ok {
			t.Fatalf("%s: no kafkaMetadata tag for %s; has KEDA's scaler changed?", path, want)
		}
	}
	return keys
}

type triggerKey struct {
	name     string
	order    []string
	enum     []string
	required bool
}

// parseKedaTag reads a tag such as
// "name=offsetResetPolicy,order=triggerMetadata,default=latest,enum=latest;earliest".
func parseKedaTag(tag string) (triggerKey, bool) {
	k := triggerKey{required: true}
	for _, part := range strings.Split(tag, ",") {
		key, value, _ := strings.Cut(part, "=")
		switch key {
		case "name":
			k.name = value
		case "order":
			k.order = strings.Split(value, ";")
		case "enum":
			k.enum = strings.Split(value, ";")
		case "optional", "default":
			k.required = false
		}
	}
	return k, k.name != ""
}

// checkKafkaTrigger returns what KEDA's kafka scaler would refuse or ignore
// in a trigger's metadata.
func checkKafkaTrigger(keys map[string]triggerKey, meta map[string]string) []error {
	var errs []error
	for name, value := range meta {
		k, ok := keys[name]
		if !ok {
			errs = append(errs, fmt.Errorf("metadata %q: not a key of KEDA's kafka scaler", name))
			continue
		}
		if len(k.enum) > 0 && !slices.Contains(k.enum, value) {
			errs = append(errs, fmt.Errorf("metadata %s: %q is not one of %v", name, value, k.enum))
		}
	}
	for name, k := range keys {
		if _, ok := meta[name]; k.required && !ok {
			errs = append(errs, fmt.Errorf("metadata %s: required", name))
		}
	}
	return errs
}

// TestScaledObjects checks each consumer group's ScaledObject against KEDA's
// CRD, KEDA's Go types and its kafka scaler, and against the rest of the
// chart: it scales its service's Deployment, on the group and the brokers
// that service uses, up to the partitions of its topics.
func TestScaledObjects(t *testing.T) {
	t.Parallel()
	crd := loadScaledObjectCRD(t)
	keys := kafkaTriggerKeys(t)
	objs := mustRender(t, example)
	settings := configMapData(t, objs)
	deps := deployments(t, objs)
	partitions := map[string]int64{}
	for _, o := range find(objs, "KafkaTopic") {
		partitions[o.name] = int64(dig(o.content, "spec", "partitions").(float64))
	}
	var scaled []string
	for _, o := range find(objs, "ScaledObject") {
		for _, err := range crd.validate(o) {
			t.Errorf("%s: %v", o, err)
		}
		obj, _, err := kedaDecoder.Decode(o.raw, nil, nil)
		if err != nil {
			t.Fatalf("%s: KEDA's types: %v", o, err)
		}
		so := obj.(*kedav1alpha1.ScaledObject)
		svc := serviceOf(o)
		scaled = append(scaled, svc)
		d := deps[svc]
		if d == nil || so.Spec.ScaleTargetRef.Name != d.Name || so.Spec.ScaleTargetRef.Kind != "Deployment" {
			t.Errorf("%s scales %+v, not the Deployment of %s", o, so.Spec.ScaleTargetRef, svc)
			continue
		}
		group := envValue(d.Spec.Template.Spec.Containers[0], "CONSUMER_GROUP")
		for i, trig := range so.Spec.Triggers {
			if trig.Type != "kafka" {
				t.Errorf("%s: trigger %d is %s, want kafka", o, i, trig.Type)
			}
			for _, err := range checkKafkaTrigger(keys, trig.Metadata) {
				t.Errorf("%s: trigger %d: %v", o, i, err)
			}
			if trig.Metadata["consumerGroup"] != group || trig.Metadata["bootstrapServers"] != settings["KAFKA_BROKERS"] {
				t.Errorf("%s: trigger %d watches group %q on %q; %s is in group %q on %q", o, i,
					trig.Metadata["consumerGroup"], trig.Metadata["bootstrapServers"], svc, group, settings["KAFKA_BROKERS"])
			}
			// pkg/kafka starts a new group at the oldest offset.
			if trig.Metadata["offsetResetPolicy"] != "earliest" {
				t.Errorf("%s: trigger %d: offsetResetPolicy %q, want earliest", o, i, trig.Metadata["offsetResetPolicy"])
			}
			topic := trig.Metadata["topic"]
			if n, ok := partitions[topic]; !ok || so.Spec.MaxReplicaCount == nil || int64(*so.Spec.MaxReplicaCount) != n {
				t.Errorf("%s: maxReplicaCount %v, but topic %s has %d partitions (a KafkaTopic: %v)", o, so.Spec.MaxReplicaCount, topic, n, ok)
			}
		}
	}
	if slices.Sort(scaled); !slices.Equal(scaled, consumers) {
		t.Errorf("ScaledObjects for %v, want one per consumer %v", scaled, consumers)
	}
}

// TestScaledObjectChecksCatchMistakes breaks a rendered ScaledObject in
// ways the API server or KEDA would refuse, and expects each caught.
func TestScaledObjectChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	crd := loadScaledObjectCRD(t)
	keys := kafkaTriggerKeys(t)
	so := find(mustRender(t, example), "ScaledObject")[0]
	tests := []struct {
		name   string
		mutate func(m map[string]any)
		want   string
	}{
		{"an unknown field", func(m map[string]any) { dig(m, "spec").(map[string]any)["maxReplicas"] = 3 }, `unknown field "spec.maxReplicas"`},
		{"an unknown metadata field", func(m map[string]any) { dig(m, "metadata").(map[string]any)["label"] = "x" }, `unknown field "metadata.label"`},
		{"a string count", func(m map[string]any) { dig(m, "spec").(map[string]any)["minReplicaCount"] = "1" }, "spec.minReplicaCount"},
		{"no triggers", func(m map[string]any) { dig(m, "spec").(map[string]any)["triggers"] = []any{} }, "spec.triggers"},
		{"more minimum than maximum", func(m map[string]any) { dig(m, "spec").(map[string]any)["minReplicaCount"] = 7 }, "minReplicaCount must be less than or equal to maxReplicaCount"},
		{"a trigger without a type", func(m map[string]any) { delete(dig(m, "spec", "triggers", 0).(map[string]any), "type") }, "spec.triggers[0].type"},
	}
	for _, tt := range tests {
		var content map[string]any
		if err := json.Unmarshal(so.raw, &content); err != nil {
			t.Fatal(err)
		}
		tt.mutate(content)
		broken := so
		broken.raw, _ = json.Marshal(content)
		errs := crd.validate(broken)
		if !strings.Contains(fmt.Sprint(errs), tt.want) {
			t.Errorf("%s: got %v, want an error with %q", tt.name, errs, tt.want)
		}
	}

	for _, tt := range []struct {
		name string
		meta map[string]string
		want string
	}{
		{"a misspelt key", map[string]string{"bootstrapServers": "k:9092", "consumerGroup": "g", "lagThresold": "5"}, `"lagThresold": not a key`},
		{"a value outside the enum", map[string]string{"bootstrapServers": "k:9092", "consumerGroup": "g", "offsetResetPolicy": "oldest"}, "offsetResetPolicy"},
		{"no group", map[string]string{"bootstrapServers": "k:9092"}, "consumerGroup: required"},
		{"a key only authentication may give", map[string]string{"bootstrapServers": "k:9092", "consumerGroup": "g", "password": "x"}, `"password": not a key`},
	} {
		if errs := checkKafkaTrigger(keys, tt.meta); !strings.Contains(fmt.Sprint(errs), tt.want) {
			t.Errorf("%s: got %v, want an error with %q", tt.name, errs, tt.want)
		}
	}
}

// TestScaledDeploymentsLeaveReplicasToKEDA: a replica count in a Deployment
// that KEDA scales would be put back by every helm upgrade.
func TestScaledDeploymentsLeaveReplicasToKEDA(t *testing.T) {
	t.Parallel()
	for _, r := range []rendering{defaults, example} {
		objs := mustRender(t, r)
		scaled := map[string]bool{}
		for _, o := range find(objs, "ScaledObject") {
			scaled[serviceOf(o)] = true
		}
		for name, d := range deployments(t, objs) {
			if scaled[name] == (d.Spec.Replicas != nil) {
				t.Errorf("%s: %s: scaled by KEDA %v, but replicas %v", r.name, name, scaled[name], d.Spec.Replicas)
			}
		}
		if r.name == example.name && !slices.Equal(slices.Sorted(maps.Keys(scaled)), consumers) {
			t.Errorf("ScaledObjects for %v, want one per consumer %v", slices.Sorted(maps.Keys(scaled)), consumers)
		}
	}
}
