// Package apicheck checks real traffic against the documents of package api:
// HTTP exchanges against openapi.yaml, Kafka records against asyncapi.yaml
// and the JSON Schemas both reference. Tests use it so that the code cannot
// drift from what is published: an undocumented path, status, header or
// member fails them.
//
// JSON is read as JSON.parse reads it, which is how the decoders of
// pkg/contracts read it too: numbers are IEEE 754 doubles (a number too
// large for one stays exact, and so out of every range the schemas allow),
// the last of duplicate members wins, and invalid UTF-8 or a lone surrogate
// is not JSON.
package apicheck

import (
	"bytes"
	"encoding/json"
	"encoding/json/jsontext"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"go.yaml.in/yaml/v3"

	"github.com/eventshop/eventshop/api"
)

// base is the URL the embedded files are compiled under.
const base = "file:///api/"

// Documents are the compiled documents of package api.
type Documents struct {
	compiler *jsonschema.Compiler
	openapi  map[string]any
	channels []channel

	mu      sync.Mutex
	schemas map[string]*jsonschema.Schema
}

var (
	loadOnce sync.Once
	loaded   *Documents
	loadErr  error
)

// Load returns the documents of package api, parsed and with every schema
// the AsyncAPI document names compiled. It loads them once per process.
func Load() (*Documents, error) {
	loadOnce.Do(func() { loaded, loadErr = load() })
	return loaded, loadErr
}

func load() (*Documents, error) {
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	c.UseLoader(loader{})
	d := &Documents{compiler: c, schemas: make(map[string]*jsonschema.Schema)}
	oa, err := loader{}.Load(base + "openapi.yaml")
	if err != nil {
		return nil, err
	}
	d.openapi, _ = oa.(map[string]any)
	if d.channels, err = d.loadChannels(); err != nil {
		return nil, err
	}
	return d, nil
}

// Schema returns the schema at location, a URL relative to the api
// directory such as "schemas/order.json" or
// "openapi.yaml#/components/schemas/Error", compiled once.
func (d *Documents) Schema(location string) (*jsonschema.Schema, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if s, ok := d.schemas[location]; ok {
		return s, nil
	}
	s, err := d.compiler.Compile(base + location)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", location, err)
	}
	d.schemas[location] = s
	return s, nil
}

// loader reads the embedded files, YAML ones as JSON would hold them.
type loader struct{}

func (loader) Load(url string) (any, error) {
	name, ok := strings.CutPrefix(url, base)
	if !ok {
		return nil, fmt.Errorf("%s is not one of the api files", url)
	}
	b, err := fs.ReadFile(api.Files, name)
	if err != nil {
		return nil, err
	}
	if path.Ext(name) != ".yaml" {
		return jsonschema.UnmarshalJSON(bytes.NewReader(b))
	}
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return doc, nil
}

// DecodeJSON decodes b as JSON.parse would, in the form the schemas
// validate: numbers that fit a double are float64, others stay json.Number.
func DecodeJSON(b []byte) (any, error) {
	if !jsontext.Value(b).IsValid(jsontext.AllowDuplicateNames(true)) {
		// IsValid also refuses invalid UTF-8 and lone surrogates, which
		// encoding/json would read as U+FFFD.
		dec := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true))
		_, err := dec.ReadValue()
		var se *jsontext.SyntacticError
		if errors.As(err, &se) {
			return nil, &NotJSONError{Field: fieldPath(strings.Split(string(se.JSONPointer), "/")[1:]), Err: err}
		}
		if err == nil {
			err = errors.New("more than one value")
		}
		return nil, &NotJSONError{Err: err}
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, &NotJSONError{Err: err}
	}
	return asDoubles(v), nil
}

// NotJSONError is DecodeJSON's error for a text that is not one JSON value.
type NotJSONError struct {
	// Field is the path of the value at fault, as in Fields; "" for the
	// text as a whole.
	Field string
	Err   error
}

func (e *NotJSONError) Error() string { return "not JSON: " + e.Err.Error() }

func (e *NotJSONError) Unwrap() error { return e.Err }

func asDoubles(v any) any {
	switch v := v.(type) {
	case json.Number:
		if f, err := strconv.ParseFloat(string(v), 64); err == nil {
			return f
		}
	case map[string]any:
		for k, e := range v {
			v[k] = asDoubles(e)
		}
	case []any:
		for i, e := range v {
			v[i] = asDoubles(e)
		}
	}
	return v
}

// Fields returns the paths of the values a validation error is about, in
// pkg/contracts' notation (products[0].quantity; "" for the whole value):
// the instance locations of its innermost causes, with the member a
// "required" names appended.
func Fields(err error) []string {
	if nj, ok := errors.AsType[*NotJSONError](err); ok {
		// The text as a whole is at fault, and the value it broke in.
		return slices.Compact([]string{"", nj.Field})
	}
	ve, ok := errors.AsType[*jsonschema.ValidationError](err)
	if !ok {
		return []string{""}
	}
	var out []string
	var walk func(*jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) > 0 {
			for _, c := range e.Causes {
				walk(c)
			}
			return
		}
		loc := e.InstanceLocation
		if req, ok := e.ErrorKind.(*kind.Required); ok {
			for _, m := range req.Missing {
				out = append(out, fieldPath(append(loc[:len(loc):len(loc)], m)))
			}
			return
		}
		out = append(out, fieldPath(loc))
	}
	walk(ve)
	return out
}

func fieldPath(loc []string) string {
	var b strings.Builder
	for i, tok := range loc {
		if _, err := strconv.Atoi(tok); err == nil && i > 0 {
			b.WriteString("[" + tok + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(tok)
	}
	return b.String()
}
