package contracts_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/eventshop/eventshop/pkg/contracts"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// asEvent adapts a typed decode function so that one table can hold all three.
func asEvent[E contracts.Event](decode func([]byte) (E, error)) func([]byte) (contracts.Event, error) {
	return func(b []byte) (contracts.Event, error) { return decode(b) }
}

// TestTutorialSamples decodes the tutorial's sample bodies, kept as
// testdata/<name>.json, and checks that encoding them gives
// testdata/<name>.golden. The tutorial's logging sample ends its last member
// with a comma, which is not JSON; testdata holds it without.
func TestTutorialSamples(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		decode func([]byte) (contracts.Event, error)
		want   contracts.Event
	}{
		{
			name:   "new-order",
			decode: asEvent(contracts.DecodeOrder),
			want:   contracts.SampleOrder(),
		},
		{
			name:   "inventory-empty",
			decode: asEvent(contracts.DecodeInventoryEmpty),
			want:   contracts.InventoryEmpty{ProductID: "PRODUCT-123"},
		},
		{
			name:   "logging-action",
			decode: asEvent(contracts.DecodeLoggingAction),
			want:   contracts.LoggingAction{ServiceName: contracts.ServiceOrder, Action: contracts.ActionNewOrder},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sample := readFile(t, filepath.Join("testdata", tt.name+".json"))
			got, err := tt.decode(sample)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("decode = %#v, want %#v", got, tt.want)
			}

			encoded, err := contracts.Encode(got)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			golden := filepath.Join("testdata", tt.name+".golden")
			if *update {
				if err := os.WriteFile(golden, encoded, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			if want := readFile(t, golden); !bytes.Equal(encoded, want) {
				t.Errorf("encode = %s\nwant (%s) %s", encoded, golden, want)
			}
		})
	}
}

// TestEncodeMatchesJSONStringify checks that our bodies are byte for byte
// what a kafkajs producer sends. The wanted strings are the output of Node's
// JSON.stringify for the same objects.
func TestEncodeMatchesJSONStringify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		event contracts.Event
		want  string
	}{
		{
			name:  "sample order",
			event: contracts.SampleOrder(),
			want:  `{"orderId":"ORDER-123","customerId":"CUSTOMER-123","products":[{"productId":"PRODUCT-123","quantity":3,"totalPrice":80},{"productId":"PRODUCT-321","quantity":1,"totalPrice":233}]}`,
		},
		{
			name: "HTML characters, non-ASCII text and awkward numbers",
			event: contracts.Order{
				OrderID:    "ORDER-<1>&2",
				CustomerID: "CUSTOMER-é",
				Products: []contracts.OrderLine{
					{ProductID: "P", Quantity: 9007199254740991, TotalPrice: 0.1},
					{ProductID: "Q", Quantity: 1, TotalPrice: 1e21},
					{ProductID: "R", Quantity: 2, TotalPrice: 1e-7},
					{ProductID: "S", Quantity: 4, TotalPrice: 19.99},
				},
			},
			want: `{"orderId":"ORDER-<1>&2","customerId":"CUSTOMER-é","products":[{"productId":"P","quantity":9007199254740991,"totalPrice":0.1},{"productId":"Q","quantity":1,"totalPrice":1e+21},{"productId":"R","quantity":2,"totalPrice":1e-7},{"productId":"S","quantity":4,"totalPrice":19.99}]}`,
		},
		{
			name:  "inventory empty",
			event: contracts.InventoryEmpty{ProductID: "PRODUCT-123"},
			want:  `{"productId":"PRODUCT-123"}`,
		},
		{
			name:  "logging action",
			event: contracts.LoggingAction{ServiceName: "order-service", Action: "new-order"},
			want:  `{"serviceName":"order-service","action":"new-order"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := contracts.Encode(tt.event)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("encode = %s\nJSON.stringify = %s", got, tt.want)
			}
		})
	}
}

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
