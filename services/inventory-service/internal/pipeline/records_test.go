package pipeline

import (
	"encoding/json"
	"testing"

	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// TestReservationRoundTrip holds the hand-written encoding to the decoder
// and to encoding/json, with ids that need escaping.
func TestReservationRoundTrip(t *testing.T) {
	t.Parallel()
	for _, r := range []inventory.Reservation{
		{OrderID: "ORDER-1", Line: 0, ProductID: "PRODUCT-123", Quantity: 3, Source: inventory.Source{Partition: 5, Offset: 9}},
		{OrderID: `O "quoted" \ back`, Line: 7, ProductID: "P-\u00e9\u2028<&>\n", Quantity: 1 << 40, Source: inventory.Source{Partition: 0, Offset: 1 << 50}},
	} {
		rec := reservationRecord("t", r, "corr")
		if !json.Valid(rec.Value) {
			t.Fatalf("%+v: not JSON: %s", r, rec.Value)
		}
		got, err := decodeReservation(&kafka.Message{Value: rec.Value})
		if err != nil || got != r {
			t.Errorf("%s decodes to %+v, %v; want %+v", rec.Value, got, err, r)
		}
		if string(rec.Key) != r.ProductID || rec.Headers["correlation-id"] != "corr" {
			t.Errorf("%+v: key %q headers %v", r, rec.Key, rec.Headers)
		}
	}
}
