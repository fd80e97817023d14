package api_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/eventshop/eventshop/api/apicheck"
	"github.com/eventshop/eventshop/pkg/contracts"
)

// decoders are the contract's decoders by topic, their results reduced to
// the error.
var decoders = map[string]func([]byte) error{
	contracts.TopicNewOrder: func(b []byte) error {
		_, err := contracts.DecodeOrder(b)
		return err
	},
	contracts.TopicInventoryEmpty: func(b []byte) error {
		_, err := contracts.DecodeInventoryEmpty(b)
		return err
	},
	contracts.TopicNewLoggingAction: func(b []byte) error {
		_, err := contracts.DecodeLoggingAction(b)
		return err
	},
}

// TestSchemasAgreeWithDecoders feeds the decoders' fuzz corpora, their
// golden bodies and generated bodies to each decoder and to its topic's
// schema. Both must accept the same bodies; when both refuse one, the
// first field the decoder names must be among those the schema names.
func TestSchemasAgreeWithDecoders(t *testing.T) {
	t.Parallel()
	docs, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	bodies := corpus(t)
	bodies = append(bodies, generated(rand.New(rand.NewPCG(1, 2)), 4000)...)
	for topic, decode := range decoders {
		var accepted, refused int
		for _, body := range bodies {
			decodeErr := decode(body)
			schemaErr := docs.CheckValue(topic, body)
			switch {
			case decodeErr == nil && schemaErr == nil:
				accepted++
			case decodeErr == nil:
				t.Errorf("%s: decoder accepts, schema refuses %q: %v", topic, body, schemaErr)
			case schemaErr == nil:
				t.Errorf("%s: schema accepts, decoder refuses %q: %v", topic, body, decodeErr)
			default:
				refused++
				if msg := sameField(decodeErr, schemaErr); msg != "" {
					t.Errorf("%s: %q: %s", topic, body, msg)
				}
			}
		}
		t.Logf("%s: %d bodies accepted by both, %d refused by both", topic, accepted, refused)
		if accepted == 0 || refused == 0 {
			t.Errorf("%s: the bodies do not exercise both outcomes", topic)
		}
	}
}

// sameField returns "" if the first field the decoder names is one the
// schema names, else what differs. A field the decoder names inside a value
// of the wrong type is matched by that value.
func sameField(decodeErr, schemaErr error) string {
	var ve *contracts.ValidationError
	if !errors.As(decodeErr, &ve) {
		return fmt.Sprintf("decoder error %v is not a ValidationError", decodeErr)
	}
	want := ve.Fields[0].Field
	got := apicheck.Fields(schemaErr)
	for _, f := range got {
		if f == want {
			return ""
		}
	}
	return fmt.Sprintf("decoder names %q (%v), schema names %q (%v)", want, decodeErr, got, schemaErr)
}

// corpus returns the seeds and findings of the decoders' fuzz targets and
// the golden bodies of pkg/contracts.
func corpus(t *testing.T) [][]byte {
	t.Helper()
	dir := filepath.Join("..", "pkg", "contracts", "testdata")
	var bodies [][]byte
	files, err := filepath.Glob(filepath.Join(dir, "fuzz", "*", "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fuzz corpus in %s (%v)", dir, err)
	}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		lit, ok := strings.CutPrefix(string(b), "go test fuzz v1\n[]byte(")
		body, err := strconv.Unquote(strings.TrimSuffix(strings.TrimSpace(lit), ")"))
		if !ok || err != nil {
			t.Fatalf("%s: not a []byte fuzz input (%v)", f, err)
		}
		bodies = append(bodies, []byte(body))
	}
	golden, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil || len(golden) == 0 {
		t.Fatalf("no golden bodies in %s (%v)", dir, err)
	}
	for _, f := range golden {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, b)
	}
	return bodies
}

// Values, as JSON text, that lie on or next to an edge of some rule.
var (
	texts = []string{
		`"ORDER-1"`, `"x"`, `" x "`, `""`, `" "`, `"\t\n"`, `"\u00a0"`, `"\u0085"`, `"\u2028"`,
		`"\u3000"`, `"\ufeff"`, `"\u200b"`, `"\u180e"`, `"\ud800"`, `"\u00e9"`, `"<&>"`,
	}
	numbers = []string{
		`0`, `-0`, `1`, `3`, `3.0`, `3e0`, `30e-1`, `1.5`, `-1`, `-1e-400`, `1e-400`, `0.1`,
		`9007199254740991`, `9007199254740992`, `9007199254740991.4`, `9007199254740993`,
		`1e400`, `-1e400`, `1.7976931348623157e308`, `1.7976931348623158e308`,
		`1.7976931348623159e308`, `0.99999999999999999`, `1.0000000000000001`, `2147483648`,
	}
	others = []string{`null`, `true`, `false`, `[]`, `{}`, `[1]`, `{"a":1}`, `"3"`}
)

func pick(r *rand.Rand, values ...[]string) string {
	all := slices.Concat(values...)
	return all[r.IntN(len(all))]
}

// value returns the JSON text of a member: usually one of its own kind,
// sometimes anything, sometimes left out ("").
func value(r *rand.Rand, kind []string) string {
	switch r.IntN(10) {
	case 0:
		return ""
	case 1:
		return pick(r, texts, numbers, others)
	}
	return pick(r, kind)
}

// object returns a JSON object of the members given as name, value pairs,
// leaving out those whose value is "", sometimes with an unknown one too,
// in random order.
func object(r *rand.Rand, members ...[2]string) string {
	var parts []string
	for _, m := range members {
		if m[1] != "" {
			parts = append(parts, strconv.Quote(m[0])+":"+m[1])
		}
	}
	if r.IntN(8) == 0 {
		parts = append(parts, `"extra":`+pick(r, texts, numbers, others))
	}
	r.Shuffle(len(parts), func(i, j int) { parts[i], parts[j] = parts[j], parts[i] })
	return "{" + strings.Join(parts, ",") + "}"
}

// generated returns n bodies built from the values above, for each of the
// three event types and a few that are no object at all.
func generated(r *rand.Rand, n int) [][]byte {
	ids := texts[:3]
	bodies := make([][]byte, 0, n)
	for range n {
		var b string
		switch r.IntN(7) {
		case 0, 1, 2:
			var lines []string
			for range r.IntN(3) + r.IntN(2) {
				line := object(r, [2]string{"productId", value(r, ids)}, [2]string{"quantity", value(r, numbers)},
					[2]string{"totalPrice", value(r, numbers)})
				if r.IntN(20) == 0 {
					line = pick(r, texts, numbers, others)
				}
				lines = append(lines, line)
			}
			products := "[" + strings.Join(lines, ",") + "]"
			if r.IntN(20) == 0 {
				products = pick(r, texts, numbers, others)
			}
			b = object(r, [2]string{"orderId", value(r, ids)}, [2]string{"customerId", value(r, ids)}, [2]string{"products", products})
		case 3:
			b = object(r, [2]string{"productId", value(r, texts)})
		case 4, 5:
			b = object(r, [2]string{"serviceName", value(r, texts)}, [2]string{"action", value(r, texts)})
		default:
			b = pick(r, texts, numbers, others, []string{`{"productId":"P"} x`, `{"productId":`, ``, `{"a":1,"a":2}`})
		}
		bodies = append(bodies, []byte(b))
	}
	return bodies
}
