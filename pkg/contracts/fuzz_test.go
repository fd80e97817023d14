package contracts_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// The seeds for FuzzDecodeOrder live in testdata/fuzz/FuzzDecodeOrder, along
// with any input the fuzzer ever found failing.
func FuzzDecodeOrder(f *testing.F) {
	f.Add(readFile(f, filepath.Join("testdata", "new-order.json")))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, body, contracts.DecodeOrder)
	})
}

func FuzzDecodeInventoryEmpty(f *testing.F) {
	f.Add(readFile(f, filepath.Join("testdata", "inventory-empty.json")))
	f.Add([]byte(`{"productId":""}`))
	f.Add([]byte(`{"productId":1,"extra":[null]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, body, contracts.DecodeInventoryEmpty)
	})
}

func FuzzDecodeLoggingAction(f *testing.F) {
	f.Add(readFile(f, filepath.Join("testdata", "logging-action.json")))
	f.Add([]byte(`{"serviceName":"order-service","action":"new-order",}`))
	f.Add([]byte(`{"serviceName":" ","action":"\u2028<&>"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkDecode(t, body, contracts.DecodeLoggingAction)
	})
}

// checkDecode holds for any body: decoding does not panic; a failure is an
// ErrInvalid *ValidationError naming at least one problem; a success is a
// valid event whose encoding decodes to the same event and encodes to the
// same bytes again.
func checkDecode[E contracts.Event](t *testing.T, body []byte, decode func([]byte) (E, error)) {
	event, err := decode(body)
	if err != nil {
		var ve *contracts.ValidationError
		if !errors.Is(err, contracts.ErrInvalid) || !errors.As(err, &ve) || len(ve.Fields) == 0 {
			t.Fatalf("decode error %v (%T) is not an ErrInvalid *ValidationError with fields", err, err)
		}
		return
	}
	if err := event.Validate(); err != nil {
		t.Fatalf("decode accepted an event Validate refuses: %v", err)
	}
	encoded, err := contracts.Encode(event)
	if err != nil {
		t.Fatalf("encode %#v: %v", event, err)
	}
	again, err := decode(encoded)
	if err != nil {
		t.Fatalf("decode of our own encoding %s: %v", encoded, err)
	}
	if !reflect.DeepEqual(again, event) {
		t.Fatalf("round trip changed the event:\n got %#v\nwant %#v", again, event)
	}
	reencoded, err := contracts.Encode(again)
	if err != nil || !bytes.Equal(reencoded, encoded) {
		t.Fatalf("encoding is not stable: %s, then %s (%v)", encoded, reencoded, err)
	}
}
