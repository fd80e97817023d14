package api_test

import (
	"bytes"
	"context"
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

// TestOpenAPIDocument loads openapi.yaml with kin-openapi, resolving its
// references into schemas/, and validates it against OpenAPI 3.1,
// examples included.
func TestOpenAPIDocument(t *testing.T) {
	t.Parallel()
	if err := validateOpenAPI(api.OpenAPI); err != nil {
		t.Fatal(err)
	}
}

func validateOpenAPI(doc []byte) error {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = true
	loader.ReadFromURIFunc = func(_ *openapi3.Loader, u *url.URL) ([]byte, error) {
		return fs.ReadFile(api.Files, path.Clean(u.Path))
	}
	d, err := loader.LoadFromDataWithPath(doc, &url.URL{Path: "openapi.yaml"})
	if err != nil {
		return err
	}
	return d.Validate(context.Background())
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
	brokenOpenAPI := bytes.Replace(api.OpenAPI, []byte("openapi: 3.1.0"), []byte("openapi: 3.1.0\nwebhooks: 7"), 1)
	if validateOpenAPI(brokenOpenAPI) == nil {
		t.Error("an OpenAPI document with webhooks: 7 validated")
	}
	noDescription := bytes.Replace(api.OpenAPI, []byte("description: Kafka holds the order and its logging action."), nil, 1)
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
