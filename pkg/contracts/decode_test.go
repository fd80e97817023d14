package contracts_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// validOrder is the tutorial's sample order, compact, for building variants.
const validOrder = `{"orderId":"ORDER-123","customerId":"CUSTOMER-123","products":[{"productId":"PRODUCT-123","quantity":3,"totalPrice":80},{"productId":"PRODUCT-321","quantity":1,"totalPrice":233}]}`

// orderWithLine returns an order whose only product line is line.
func orderWithLine(line string) string {
	return `{"orderId":"O-1","customerId":"C-1","products":[` + line + `]}`
}

func TestDecodeOrderAccepts(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		body string
		want contracts.Order
	}{
		{
			name: "unknown fields at the top and in a product line",
			body: `{"orderId":"ORDER-123","currency":"EUR","customerId":"CUSTOMER-123","products":[` +
				`{"productId":"PRODUCT-123","quantity":3,"totalPrice":80,"discount":{"code":"X"}},` +
				`{"productId":"PRODUCT-321","quantity":1,"totalPrice":233}],"meta":[1,null]}`,
			want: contracts.SampleOrder(),
		},
		{
			name: "quantity written as 3.0",
			body: orderWithLine(`{"productId":"P","quantity":3.0,"totalPrice":1}`),
			want: oneLineOrder(contracts.OrderLine{ProductID: "P", Quantity: 3, TotalPrice: 1}),
		},
		{
			name: "quantity written as 3e0",
			body: orderWithLine(`{"productId":"P","quantity":3e0,"totalPrice":1}`),
			want: oneLineOrder(contracts.OrderLine{ProductID: "P", Quantity: 3, TotalPrice: 1}),
		},
		{
			name: "largest quantity JavaScript holds exactly",
			body: orderWithLine(`{"productId":"P","quantity":9007199254740991,"totalPrice":1}`),
			want: oneLineOrder(contracts.OrderLine{ProductID: "P", Quantity: 1<<53 - 1, TotalPrice: 1}),
		},
		{
			name: "free product and fractional price",
			body: `{"orderId":"O-1","customerId":"C-1","products":[` +
				`{"productId":"P","quantity":1,"totalPrice":0},{"productId":"Q","quantity":1,"totalPrice":19.99}]}`,
			want: contracts.Order{OrderID: "O-1", CustomerID: "C-1", Products: []contracts.OrderLine{
				{ProductID: "P", Quantity: 1, TotalPrice: 0},
				{ProductID: "Q", Quantity: 1, TotalPrice: 19.99},
			}},
		},
		{
			name: "price too small for float64 reads as zero, as in JavaScript",
			body: orderWithLine(`{"productId":"P","quantity":1,"totalPrice":1e-400}`),
			want: oneLineOrder(contracts.OrderLine{ProductID: "P", Quantity: 1, TotalPrice: 0}),
		},
		{
			name: "surrounding whitespace",
			body: "\n\t " + validOrder + " \r\n",
			want: contracts.SampleOrder(),
		},
		{
			name: "duplicate member: the last wins, as in JSON.parse",
			body: `{"orderId":"FIRST","orderId":"ORDER-123","customerId":"CUSTOMER-123","products":[{"productId":"PRODUCT-123","quantity":3,"totalPrice":80},{"productId":"PRODUCT-321","quantity":1,"totalPrice":233}]}`,
			want: contracts.SampleOrder(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := contracts.DecodeOrder([]byte(tt.body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("decode = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func oneLineOrder(line contracts.OrderLine) contracts.Order {
	return contracts.Order{OrderID: "O-1", CustomerID: "C-1", Products: []contracts.OrderLine{line}}
}

func TestDecodeOtherEventsTolerateUnknownFields(t *testing.T) {
	t.Parallel()
	empty, err := contracts.DecodeInventoryEmpty([]byte(`{"productId":"P-1","warehouse":"north"}`))
	if err != nil || empty != (contracts.InventoryEmpty{ProductID: "P-1"}) {
		t.Errorf("DecodeInventoryEmpty = %#v, %v", empty, err)
	}
	action, err := contracts.DecodeLoggingAction([]byte(`{"serviceName":"s","action":"a","level":3}`))
	if err != nil || action != (contracts.LoggingAction{ServiceName: "s", Action: "a"}) {
		t.Errorf("DecodeLoggingAction = %#v, %v", action, err)
	}
}

func decodeOrder(b []byte) error          { _, err := contracts.DecodeOrder(b); return err }
func decodeInventoryEmpty(b []byte) error { _, err := contracts.DecodeInventoryEmpty(b); return err }
func decodeLoggingAction(b []byte) error  { _, err := contracts.DecodeLoggingAction(b); return err }

func TestDecodeRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		decode func([]byte) error
		body   string
		field  string // "" for the body as a whole
		reason string // a substring of the reason
	}{
		// The body as a whole.
		{name: "empty body", decode: decodeOrder, body: ``, reason: "body is empty"},
		{name: "whitespace-only body", decode: decodeOrder, body: " \n", reason: "body is empty"},
		{name: "not JSON", decode: decodeOrder, body: `orderId=1`, reason: "not valid JSON"},
		{name: "truncated JSON", decode: decodeOrder, body: validOrder[:40], reason: "not valid JSON"},
		{name: "trailing garbage", decode: decodeOrder, body: validOrder + ` x`, reason: "unexpected data after the JSON object"},
		{name: "two objects", decode: decodeOrder, body: validOrder + "\n" + validOrder, reason: "unexpected data after the JSON object"},
		{name: "null body", decode: decodeOrder, body: `null`, reason: "must be a JSON object, not null"},
		{name: "array body", decode: decodeOrder, body: `[` + validOrder + `]`, reason: "must be a JSON object, not an array"},
		{name: "body encoded twice", decode: decodeOrder, body: `"{\"orderId\":\"O-1\"}"`, reason: "must be a JSON object, not a string"},
		{name: "byte order mark", decode: decodeOrder, body: "\uFEFF" + validOrder, reason: "not valid JSON"},

		// Order ids.
		{name: "orderId missing", decode: decodeOrder, body: `{"customerId":"C-1","products":[{"productId":"P","quantity":1,"totalPrice":1}]}`, field: "orderId", reason: "is required"},
		{name: "orderId null", decode: decodeOrder, body: `{"orderId":null,"customerId":"C-1","products":[{"productId":"P","quantity":1,"totalPrice":1}]}`, field: "orderId", reason: "is required"},
		{name: "orderId empty", decode: decodeOrder, body: strings.Replace(validOrder, `"ORDER-123"`, `""`, 1), field: "orderId", reason: "is required"},
		{name: "orderId whitespace only", decode: decodeOrder, body: strings.Replace(validOrder, `"ORDER-123"`, `" \t"`, 1), field: "orderId", reason: "must not be blank"},
		{name: "orderId a number", decode: decodeOrder, body: strings.Replace(validOrder, `"ORDER-123"`, `123`, 1), field: "orderId", reason: "must be a string"},
		{name: "orderId in the wrong case", decode: decodeOrder, body: strings.Replace(validOrder, `"orderId"`, `"OrderID"`, 1), field: "orderId", reason: "is required"},
		{name: "customerId missing", decode: decodeOrder, body: `{"orderId":"O-1","products":[{"productId":"P","quantity":1,"totalPrice":1}]}`, field: "customerId", reason: "is required"},
		{name: "customerId an object", decode: decodeOrder, body: strings.Replace(validOrder, `"CUSTOMER-123"`, `{"id":"C"}`, 1), field: "customerId", reason: "must be a string"},

		// The product list.
		{name: "products missing", decode: decodeOrder, body: `{"orderId":"O-1","customerId":"C-1"}`, field: "products", reason: "is required"},
		{name: "products empty", decode: decodeOrder, body: `{"orderId":"O-1","customerId":"C-1","products":[]}`, field: "products", reason: "must not be empty"},
		{name: "products an object", decode: decodeOrder, body: `{"orderId":"O-1","customerId":"C-1","products":{"productId":"P"}}`, field: "products", reason: "must be an array"},
		{name: "product line a string", decode: decodeOrder, body: orderWithLine(`"PRODUCT-123"`), field: "products[0]", reason: "must be an object"},
		{name: "product line null", decode: decodeOrder, body: orderWithLine(`null`), field: "products[0]", reason: "must be an object"},
		{name: "productId missing in the second line", decode: decodeOrder, body: strings.Replace(validOrder, `"productId":"PRODUCT-321",`, ``, 1), field: "products[1].productId", reason: "is required"},
		{name: "productId blank", decode: decodeOrder, body: orderWithLine(`{"productId":"  ","quantity":1,"totalPrice":1}`), field: "products[0].productId", reason: "must not be blank"},

		// Quantities.
		{name: "quantity missing", decode: decodeOrder, body: orderWithLine(`{"productId":"P","totalPrice":1}`), field: "products[0].quantity", reason: "is required"},
		{name: "quantity a string", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":"3","totalPrice":1}`), field: "products[0].quantity", reason: "must be a positive integer"},
		{name: "quantity a boolean", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":true,"totalPrice":1}`), field: "products[0].quantity", reason: "must be a positive integer"},
		{name: "quantity fractional", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":2.5,"totalPrice":1}`), field: "products[0].quantity", reason: "must be a positive integer"},
		{name: "quantity zero", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":0,"totalPrice":1}`), field: "products[0].quantity", reason: "must be a positive integer"},
		{name: "quantity negative", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":-3,"totalPrice":1}`), field: "products[0].quantity", reason: "must be a positive integer"},
		{name: "quantity in the second line negative", decode: decodeOrder, body: strings.Replace(validOrder, `"quantity":1`, `"quantity":-1`, 1), field: "products[1].quantity", reason: "must be a positive integer"},
		{name: "quantity beyond JavaScript's exact integers", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":9007199254740992,"totalPrice":1}`), field: "products[0].quantity", reason: "must be at most 9007199254740991"},
		{name: "quantity beyond float64", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":1e400,"totalPrice":1}`), field: "products[0].quantity", reason: "must be a positive integer"},
		{name: "quantity beyond int64", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":1e19,"totalPrice":1}`), field: "products[0].quantity", reason: "must be at most"},

		// Prices.
		{name: "totalPrice missing", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":1}`), field: "products[0].totalPrice", reason: "is required"},
		{name: "totalPrice a string", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":1,"totalPrice":"80"}`), field: "products[0].totalPrice", reason: "must be a number"},
		{name: "totalPrice negative", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":1,"totalPrice":-0.01}`), field: "products[0].totalPrice", reason: "must not be negative"},
		{name: "totalPrice beyond float64", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":1,"totalPrice":1e400}`), field: "products[0].totalPrice", reason: "must be a finite number"},
		{name: "totalPrice below -float64", decode: decodeOrder, body: orderWithLine(`{"productId":"P","quantity":1,"totalPrice":-1e400}`), field: "products[0].totalPrice", reason: "must be a finite number"},

		// Text that is not valid UTF-8 would read as U+FFFD, so that two
		// different ids could be taken for the same.
		{name: "orderId with an invalid byte", decode: decodeOrder, body: strings.Replace(validOrder, `"ORDER-123"`, "\"ORDER-utf\xff\"", 1), field: "orderId", reason: "must be valid UTF-8"},
		{name: "productId a lone surrogate", decode: decodeOrder, body: orderWithLine(`{"productId":"\ud800","quantity":1,"totalPrice":1}`), field: "products[0].productId", reason: "must be valid UTF-8"},
		{name: "unknown member with an invalid byte", decode: decodeOrder, body: strings.Replace(validOrder, `{`, "{\"note\":\"\xfe\",", 1), field: "note", reason: "must be valid UTF-8"},
		{name: "invalid byte after a duplicate name", decode: decodeOrder, body: strings.Replace(strings.Replace(validOrder, `"ORDER-123"`, "\"ORDER-utf\xff\"", 1), `{`, `{"x":1,"x":2,`, 1), field: "orderId", reason: "must be valid UTF-8"},

		// The other events.
		{name: "inventory-empty: null body", decode: decodeInventoryEmpty, body: `null`, reason: "must be a JSON object"},
		{name: "inventory-empty: productId missing", decode: decodeInventoryEmpty, body: `{"productID":"P-1"}`, field: "productId", reason: "is required"},
		{name: "inventory-empty: productId a number", decode: decodeInventoryEmpty, body: `{"productId":123}`, field: "productId", reason: "must be a string"},
		{name: "logging-action: trailing comma as in the tutorial", decode: decodeLoggingAction, body: `{"serviceName":"order-service","action":"new-order",}`, reason: "not valid JSON"},
		{name: "logging-action: serviceName missing", decode: decodeLoggingAction, body: `{"action":"new-order"}`, field: "serviceName", reason: "is required"},
		{name: "logging-action: action blank", decode: decodeLoggingAction, body: `{"serviceName":"s","action":"\n"}`, field: "action", reason: "must not be blank"},
		{name: "logging-action: action an array", decode: decodeLoggingAction, body: `{"serviceName":"s","action":["a"]}`, field: "action", reason: "must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.decode([]byte(tt.body))
			assertFieldError(t, err, tt.field, tt.reason)
		})
	}
}

// assertFieldError checks that err is an ErrInvalid *ValidationError with
// exactly one entry, for field, whose reason contains reason.
func assertFieldError(t *testing.T, err error, field, reason string) {
	t.Helper()
	if !errors.Is(err, contracts.ErrInvalid) {
		t.Fatalf("error %v does not match ErrInvalid", err)
	}
	var ve *contracts.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	if len(ve.Fields) != 1 {
		t.Fatalf("got %d field errors %q, want one for %q", len(ve.Fields), ve.Fields, field)
	}
	got := ve.Fields[0]
	if got.Field != field || !strings.Contains(got.Reason, reason) {
		t.Errorf("got field error %q: %q, want %q: ...%q...", got.Field, got.Reason, field, reason)
	}
	if !strings.Contains(err.Error(), got.Error()) {
		t.Errorf("error text %q does not contain %q", err, got.Error())
	}
}

// TestDecodeReportsEveryViolation checks that one decode lists every bad
// field, in the body's order, and says nothing more about a value it could
// not read.
func TestDecodeReportsEveryViolation(t *testing.T) {
	t.Parallel()
	body := `{"customerId":5,"products":[` +
		`{"productId":"P","quantity":"3","totalPrice":-1},` +
		`"PRODUCT-321",` +
		`{"quantity":2.5,"totalPrice":1e400}]}`
	_, err := contracts.DecodeOrder([]byte(body))

	var ve *contracts.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	want := []contracts.FieldError{
		{Field: "orderId", Reason: "is required"},
		{Field: "customerId", Reason: "must be a string"},
		{Field: "products[0].quantity", Reason: "must be a positive integer"},
		{Field: "products[0].totalPrice", Reason: "must not be negative"},
		{Field: "products[1]", Reason: "must be an object"},
		{Field: "products[2].productId", Reason: "is required"},
		{Field: "products[2].quantity", Reason: "must be a positive integer"},
		{Field: "products[2].totalPrice", Reason: "must be a finite number"},
	}
	if !reflect.DeepEqual(ve.Fields, want) {
		t.Errorf("fields:\n got %q\nwant %q", ve.Fields, want)
	}
	if ve.EventType != contracts.EventTypeNewOrder {
		t.Errorf("EventType = %q, want %q", ve.EventType, contracts.EventTypeNewOrder)
	}
}

// TestDecodeBoundsTheError checks that a body with a huge number of bad
// lines is rejected with a short error, so it can still be logged and sent
// to the dead-letter topic. It would also time out if the checks were
// quadratic in the number of lines.
func TestDecodeBoundsTheError(t *testing.T) {
	t.Parallel()
	const lines = 200_000
	body := `{"orderId":"O-1","customerId":"C-1","products":["x"` + strings.Repeat(`,"x"`, lines-1) + `]}`
	_, err := contracts.DecodeOrder([]byte(body))

	var ve *contracts.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("error %v (%T) is not a *ValidationError", err, err)
	}
	if got := len(ve.Fields) + ve.Omitted; got != lines {
		t.Errorf("reported %d + omitted %d violations, want %d in all", len(ve.Fields), ve.Omitted, lines)
	}
	if len(ve.Fields) > 100 {
		t.Errorf("kept %d field errors, want a short list", len(ve.Fields))
	}
	if len(err.Error()) > 4096 {
		t.Errorf("error text is %d bytes long", len(err.Error()))
	}
	if want := "products[0]: must be an object"; ve.Fields[0].Error() != want {
		t.Errorf("first field error = %q, want %q", ve.Fields[0], want)
	}
}
