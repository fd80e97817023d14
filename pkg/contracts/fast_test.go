package contracts

import (
	"reflect"
	"testing"
)

// genericOnly decodes without the fast path, for comparison.
func genericOnly[E interface{ check(*checker) }](b []byte, eventType string, read func(*checker, object) E) (E, error) {
	never := func([]byte) (E, bool) { var zero E; return zero, false }
	return decode(eventType, b, never, read)
}

// FuzzFastDecodeAgreesWithGeneric holds the fast path to the generic one:
// whatever body it takes, the generic path takes too, with the same order.
func FuzzFastDecodeAgreesWithGeneric(f *testing.F) {
	for _, body := range []string{
		`{"orderId":"O-1","customerId":"C-1","products":[{"productId":"P","quantity":3,"totalPrice":80}]}`,
		`{"orderId":"O-1","customerId":"C-1","products":[{"productId":"P","quantity":3.0,"totalPrice":80}]}`,
		`{"orderId":"O-1","customerId":"C-1","products":[{"productId":"P","quantity":3,"totalPrice":80,"x":null}],"extra":{}}`,
		`{"orderId":"O-1","orderID":"O-2","customerId":"C-1","products":[{"productId":"P","quantity":3,"totalPrice":0}]}`,
		`{"orderId":"O-1","orderId":"O-2","customerId":"C-1","products":[{"productId":"P","quantity":3,"totalPrice":1}]}`,
		`{"orderId":null,"customerId":"C-1","products":[{"productId":"P","quantity":3,"totalPrice":1}]}`,
		`{"orderId":"O-1","customerId":"C-1","products":[null]}`,
		`{"orderId":"O-1","customerId":"C-1","products":[{"productId":"P","quantity":3,"totalPrice":1e400}]}`,
		`{"orderId":"O-1","customerId":"C-1","products":[{"productId":"P","quantity":3,"totalPrice":-0}]}`,
		`{"orderId":"\u2028","customerId":"C","products":[{"productId":"P","quantity":9007199254740991,"totalPrice":1}]}`,
		"{\"orderId\":\"O-\xff\",\"customerId\":\"C\",\"products\":[{\"productId\":\"P\",\"quantity\":1,\"totalPrice\":1}]}",
		`{"orderId":"O-1","customerId":"C-1","products":[{"productId":"P","quantity":3,"totalPrice":1}]} x`,
		`"{\"orderId\":\"O-1\"}"`,
		`{"orderId":" ","customerId":"C-1","products":[]}`,
	} {
		f.Add([]byte(body))
	}
	read := func(c *checker, obj object) Order {
		return Order{OrderID: c.readString(obj, "orderId"), CustomerID: c.readString(obj, "customerId"), Products: c.readProducts(obj)}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, ok := fastOrder(body)
		if !ok {
			return
		}
		var c checker
		if fast.check(&c); c.err() != nil {
			return
		}
		generic, err := genericOnly(body, EventTypeNewOrder, read)
		if err != nil {
			t.Fatalf("the fast path took %q, the generic path refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, generic) {
			t.Fatalf("%q: fast path %+v, generic %+v", body, fast, generic)
		}
	})
}

func TestFastPathTakesTheSample(t *testing.T) {
	body, err := Encode(SampleOrder())
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := fastOrder(body); !ok {
		t.Errorf("fastOrder refused the sample order %s", body)
	}
}

// The codec's cost per order, for the micro-benchmarks: go test -bench . -benchmem
func BenchmarkDecodeOrder(b *testing.B) {
	body, _ := Encode(SampleOrder())
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeOrder(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeOrderGenericPath(b *testing.B) {
	body, _ := Encode(SampleOrder())
	read := func(c *checker, obj object) Order {
		return Order{OrderID: c.readString(obj, "orderId"), CustomerID: c.readString(obj, "customerId"), Products: c.readProducts(obj)}
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := genericOnly(body, EventTypeNewOrder, read); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeOrder(b *testing.B) {
	order := SampleOrder()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(order); err != nil {
			b.Fatal(err)
		}
	}
}
