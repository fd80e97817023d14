package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"go.yaml.in/yaml/v3"

	"github.com/eventshop/eventshop/api"
	"github.com/eventshop/eventshop/api/apicheck"
)

var update = flag.Bool("update", false, "rewrite openapi.bundled.yaml from openapi.yaml")

// TestOpenAPIDocument loads openapi.yaml with kin-openapi, resolving its
// references into schemas/, and validates it against OpenAPI 3.1,
// examples included; and the same for openapi.bundled.yaml.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	source, err := fs.ReadFile(api.Files, "openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := validateOpenAPI(source); err != nil {
		t.Errorf("openapi.yaml: %v", err)
	}
	if err := validateOpenAPI(api.OpenAPI); err != nil {
		t.Errorf("openapi.bundled.yaml: %v", err)
	}
}

func loadOpenAPI(doc []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	loader.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		return fs.ReadFile(api.Files, path.Clean(u.Path))
	}
	return loader.LoadFromDataWithPath(doc, &url.URL{Path: "openapi.yaml"})
}

func validateOpenAPI(doc []byte) error {
	d, err := loadOpenAPI(doc)
	if err != nil {
		return err
	}
	return d.Validate(context.Background())
}

// bundledHeader starts openapi.bundled.yaml.
const bundledHeader = `# openapi.yaml with the schemas it references copied in: one self-contained
# document, which order-service serves at GET /openapi.yaml and client
# generators take. Do not edit: go test -run TestOpenAPIBundle -update
# (in api/) writes it.
`

// TestOpenAPIBundle checks that openapi.bundled.yaml is openapi.yaml with
// its references internalised by kin-openapi; -update rewrites it.
func TestOpenAPIBundle(t *testing.T) {
	t.Parallel()
	source, err := fs.ReadFile(api.Files, "openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := loadOpenAPI(source)
	if err != nil {
		t.Fatal(err)
	}
	d.InternalizeRefs(context.Background(), nil)
	j, err := d.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := json.Unmarshal(j, &v); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.WriteString(bundledHeader)
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("openapi.bundled.yaml", out.Bytes(), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(out.Bytes(), api.OpenAPI) {
		t.Error("openapi.bundled.yaml is not openapi.yaml bundled: go test -run TestOpenAPIBundle -update")
	}
}

// TestAsyncAPIDocument validates asyncapi.yaml against the official JSON
// Schema of AsyncAPI 3.0.0 (see testdata/README.md).
func TestAsyncAPIDocument(t *testing.T) {
	t.Parallel()
	doc, err := fs.ReadFile(api.Files, "asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := validateAsyncAPI(t, doc); err != nil {
		t.Fatal(err)
	}
}

func validateAsyncAPI(t *testing.T, doc []byte) error {
	t.Helper()
	spec, err := os.ReadFile(filepath.Join("testdata", "asyncapi-3.0.0.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	specDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("asyncapi-3.0.0.json", specDoc); err != nil {
		t.Fatal(err)
	}
	schema, err := c.Compile("asyncapi-3.0.0.json")
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return err
	}
	return schema.Validate(v)
}

// TestDocumentsBreakOnPurpose shows the two validations above refuse a
// broken document, so that their passing means something.
func TestDocumentsBreakOnPurpose(t *testing.T) {
	t.Parallel()
	source, err := fs.ReadFile(api.Files, "openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	brokenOpenAPI := bytes.Replace(source, []byte("openapi: 3.1.0"), []byte("openapi: 3.1.0\nwebhooks: 7"), 1)
	if validateOpenAPI(brokenOpenAPI) == nil {
		t.Error("an OpenAPI document with webhooks: 7 validated")
	}
	noDescription := bytes.Replace(source, []byte("description: Kafka holds the order and its logging action."), nil, 1)
	if validateOpenAPI(noDescription) == nil {
		t.Error("an OpenAPI document with a response without description validated")
	}
	async, err := fs.ReadFile(api.Files, "asyncapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	brokenAsync := bytes.Replace(async, []byte("action: receive"), []byte("action: consume"), 1)
	if validateAsyncAPI(t, brokenAsync) == nil {
		t.Error("an AsyncAPI document with action: consume validated")
	}
}

// TestSchemas compiles every schema against the 2020-12 meta-schema, every
// message of asyncapi.yaml with them, and validates each schema's
// examples.
func TestSchemas(t *testing.T) {
	t.Parallel()
	docs, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(api.Files, "schemas/*.json")
	if err != nil || len(names) == 0 {
		t.Fatalf("no schemas (%v)", err)
	}
	for _, name := range names {
		schema, err := docs.Schema(name)
		if err != nil {
			t.Error(err)
			continue
		}
		raw, err := fs.ReadFile(api.Files, name)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
		if err != nil {
			t.Fatal(err)
		}
		examples, _ := doc.(map[string]any)["examples"].([]any)
		for i, ex := range examples {
			if err := schema.Validate(ex); err != nil {
				t.Errorf("%s: example %d: %v", name, i, err)
			}
		}
	}
}
