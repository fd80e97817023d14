package api_test

import (
	"bytes"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/eventshop/eventshop/api"
)

// TestCompatibleWithBaseline compares schemas/ with baseline/schemas/, the
// schemas as last published, and fails on a change that breaks a reader or
// a writer of the published ones: a schema or a member removed, a type
// narrowed (or its bounds, length, pattern, values), a member made
// required, unknown members refused. `make lint` runs it. A deliberate
// break is published by `make api-baseline`, which copies schemas/ over
// the baseline.
func TestCompatibleWithBaseline(t *testing.T) {
	t.Parallel()
	baseline := readSchemas(t, os.DirFS("baseline"))
	current := readSchemas(t, api.Files)
	if len(baseline) == 0 {
		t.Fatal("baseline/schemas is empty: run make api-baseline")
	}
	for _, problem := range incompatibilities(baseline, current) {
		t.Error(problem)
	}
}

// TestCompatibilityCheckCatchesBreaks breaks the current schemas in each
// way the check must catch, and one way it must let pass.
func TestCompatibilityCheckCatchesBreaks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		file  string
		edit  func(map[string]any)
		wants string // "" for a compatible change
	}{
		{"member removed", "schemas/order.json", func(s map[string]any) {
			delete(dig(s, "$defs", "orderLine", "properties").(map[string]any), "totalPrice")
		}, "products.items.totalPrice: removed"},
		{"type narrowed", "schemas/defs.json", func(s map[string]any) {
			dig(s, "$defs", "price").(map[string]any)["type"] = "integer"
		}, "$defs.price: type narrowed from integer,number to integer"},
		{"bound narrowed", "schemas/defs.json", func(s map[string]any) {
			dig(s, "$defs", "quantity").(map[string]any)["maximum"] = 1000
		}, "maximum narrowed"},
		{"member made required", "schemas/logging-action.json", func(s map[string]any) {
			s["required"] = append(s["required"].([]any), "at")
		}, "at: made required"},
		{"unknown members refused", "schemas/inventory-empty.json", func(s map[string]any) {
			s["additionalProperties"] = false
		}, "additionalProperties narrowed"},
		{"schema removed", "schemas/inventory-empty.json", nil, "schemas/inventory-empty.json: removed"},
		{"optional member added", "schemas/inventory-empty.json", func(s map[string]any) {
			dig(s, "properties").(map[string]any)["note"] = map[string]any{"type": "string"}
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			baseline := readSchemas(t, api.Files)
			current := readSchemas(t, api.Files)
			if tt.edit == nil {
				delete(current, tt.file)
			} else {
				tt.edit(current[tt.file].(map[string]any))
			}
			problems := incompatibilities(baseline, current)
			if tt.wants == "" {
				if len(problems) > 0 {
					t.Errorf("a compatible change was refused: %v", problems)
				}
				return
			}
			if !slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.wants) }) {
				t.Errorf("problems %q, want one saying %q", problems, tt.wants)
			}
		})
	}
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		v = v.(map[string]any)[k]
	}
	return v
}

// readSchemas returns schemas/*.json of fsys by path.
func readSchemas(t *testing.T, fsys fs.FS) map[string]any {
	t.Helper()
	names, err := fs.Glob(fsys, "schemas/*.json")
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]any, len(names))
	for _, name := range names {
		b, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		if out[name], err = jsonschema.UnmarshalJSON(bytes.NewReader(b)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	return out
}

// incompatibilities lists how current breaks baseline, schema by schema.
func incompatibilities(baseline, current map[string]any) []string {
	var problems []string
	for _, name := range slices.Sorted(maps.Keys(baseline)) {
		if _, ok := current[name]; !ok {
			problems = append(problems, name+": removed")
			continue
		}
		c := comparison{baseline: baseline, current: current}
		c.compare(name, "", name, baseline[name], name, current[name], 0)
		problems = append(problems, c.problems...)
	}
	return problems
}

type comparison struct {
	baseline, current map[string]any
	problems          []string
}

func (c *comparison) report(file, at, format string, args ...any) {
	if at == "" {
		at = "(root)"
	}
	c.problems = append(c.problems, fmt.Sprintf("%s: %s: %s", file, at, fmt.Sprintf(format, args...)))
}

// resolve follows $ref (a file of the set and a JSON pointer) from the
// schema s of file, returning the file and schema it lands on.
func resolve(set map[string]any, file string, s map[string]any) (string, map[string]any) {
	for range 10 {
		ref, ok := s["$ref"].(string)
		if !ok {
			return file, s
		}
		target, pointer, _ := strings.Cut(ref, "#")
		if target != "" {
			file = path.Join(path.Dir(file), target)
		}
		v := set[file]
		for _, tok := range strings.Split(strings.TrimPrefix(pointer, "/"), "/") {
			if tok != "" {
				m, _ := v.(map[string]any)
				v = m[strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)]
			}
		}
		next, ok := v.(map[string]any)
		if !ok {
			return file, nil
		}
		// Keywords beside $ref apply too; the target's win for what both say.
		merged := maps.Clone(s)
		delete(merged, "$ref")
		maps.Copy(merged, next)
		s = merged
	}
	return file, s
}

func (c *comparison) compare(file, at, bFile string, bRaw any, cFile string, cRaw any, depth int) {
	b, _ := bRaw.(map[string]any)
	cur, _ := cRaw.(map[string]any)
	if b == nil || cur == nil || depth > 20 {
		return
	}
	bFile, b = resolve(c.baseline, bFile, b)
	cFile, cur = resolve(c.current, cFile, cur)
	if b == nil || cur == nil {
		c.report(file, at, "unresolvable $ref")
		return
	}
	if bt, ct := types(b), types(cur); !subset(bt, ct) {
		c.report(file, at, "type narrowed from %s to %s", strings.Join(bt, ","), strings.Join(ct, ","))
	}
	for _, kw := range []string{"minimum", "exclusiveMinimum", "minLength", "minItems"} {
		if narrowedBound(b[kw], cur[kw], 1) {
			c.report(file, at, "%s narrowed from %v to %v", kw, b[kw], cur[kw])
		}
	}
	for _, kw := range []string{"maximum", "exclusiveMaximum", "maxLength", "maxItems"} {
		if narrowedBound(b[kw], cur[kw], -1) {
			c.report(file, at, "%s narrowed from %v to %v", kw, b[kw], cur[kw])
		}
	}
	for _, kw := range []string{"pattern", "format", "const"} {
		if _, set := cur[kw]; set && !reflect.DeepEqual(b[kw], cur[kw]) {
			c.report(file, at, "%s changed from %v to %v", kw, b[kw], cur[kw])
		}
	}
	if ce, ok := cur["enum"].([]any); ok {
		be, _ := b["enum"].([]any)
		for _, v := range be {
			if !slices.ContainsFunc(ce, func(w any) bool { return reflect.DeepEqual(v, w) }) {
				c.report(file, at, "enum narrowed: %v removed", v)
			}
		}
		if be == nil {
			c.report(file, at, "enum added")
		}
	}
	if cur["additionalProperties"] == false && b["additionalProperties"] != false {
		c.report(file, at, "additionalProperties narrowed: unknown members refused")
	}
	bReq, _ := b["required"].([]any)
	cReq, _ := cur["required"].([]any)
	for _, r := range cReq {
		if !slices.Contains(bReq, r) {
			c.report(file, join(at, fmt.Sprint(r)), "made required")
		}
	}
	bProps, _ := b["properties"].(map[string]any)
	cProps, _ := cur["properties"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(bProps)) {
		if _, ok := cProps[name]; !ok {
			c.report(file, join(at, name), "removed")
			continue
		}
		c.compare(file, join(at, name), bFile, bProps[name], cFile, cProps[name], depth+1)
	}
	bDefs, _ := b["$defs"].(map[string]any)
	cDefs, _ := cur["$defs"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(bDefs)) {
		if _, ok := cDefs[name]; !ok {
			c.report(file, join(at, "$defs."+name), "removed")
			continue
		}
		c.compare(file, join(at, "$defs."+name), bFile, bDefs[name], cFile, cDefs[name], depth+1)
	}
	for _, kw := range []string{"items", "additionalProperties", "propertyNames"} {
		if _, ok := b[kw].(map[string]any); ok {
			c.compare(file, join(at, kw), bFile, b[kw], cFile, cur[kw], depth+1)
		}
	}
}

func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

// types returns the JSON types a schema allows, all of them if it says
// none; "number" includes "integer".
func types(s map[string]any) []string {
	var ts []string
	switch t := s["type"].(type) {
	case string:
		ts = []string{t}
	case []any:
		for _, e := range t {
			ts = append(ts, fmt.Sprint(e))
		}
	default:
		return []string{"array", "boolean", "integer", "null", "number", "object", "string"}
	}
	if slices.Contains(ts, "number") && !slices.Contains(ts, "integer") {
		ts = append(ts, "integer")
	}
	slices.Sort(ts)
	return ts
}

func subset(a, b []string) bool {
	for _, e := range a {
		if !slices.Contains(b, e) {
			return false
		}
	}
	return true
}

// narrowedBound reports whether a lower (sign 1) or upper (sign -1) bound
// now allows less: added, or moved inwards.
func narrowedBound(before, after any, sign int) bool {
	if after == nil {
		return false
	}
	if before == nil {
		return true
	}
	b, bok := number(before)
	a, aok := number(after)
	return !bok || !aok || float64(sign)*(a-b) > 0
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case float64:
		return n, true
	case fmt.Stringer:
		var f float64
		_, err := fmt.Sscan(n.String(), &f)
		return f, err == nil
	}
	return 0, false
}
