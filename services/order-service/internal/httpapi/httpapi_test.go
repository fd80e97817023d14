package httpapi_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/api/apicheck"
	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
	"github.com/eventshop/eventshop/pkg/httpserver"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/services/order-service/internal/httpapi"
	"github.com/eventshop/eventshop/services/order-service/internal/orders"
)

// sampleBody is the tutorial's sample order, for building variants.
const sampleBody = `{"orderId":"ORDER-123","customerId":"CUSTOMER-123","products":[` +
	`{"productId":"PRODUCT-123","quantity":3,"totalPrice":80},` +
	`{"productId":"PRODUCT-321","quantity":1,"totalPrice":233}]}`

// sampleWithout is sampleBody with the member `"orderId":"ORDER-123",` left out.
var sampleWithout = strings.Replace(sampleBody, `"orderId":"ORDER-123",`, "", 1)

// withLine is an order whose only product line is line.
func withLine(line string) string {
	return `{"orderId":"O-1","customerId":"C-1","products":[` + line + `]}`
}

// request describes a call of the API. Zero fields mean POST with
// Content-Type application/json.
type request struct {
	method string
	header http.Header
	body   string
}

// path is where the API is served.
const path = "/orders"

// api returns the API, placing orders through pub, as the service serves
// it: its routes on a mux, behind httpserver.JSONNotAllowed. Every exchange
// it serves must match api/openapi.yaml, or t fails.
func api(t testing.TB, pub orders.Publisher, publishTimeout time.Duration) http.Handler {
	t.Helper()
	mux := http.NewServeMux()
	httpapi.Register(mux, orders.NewService(pub, eventbustest.SequentialIDs(), publishTimeout, zap.NewNop()), zap.NewNop())
	docs, err := apicheck.Load()
	if err != nil {
		t.Fatal(err)
	}
	return docs.Handler(t, httpserver.JSONNotAllowed(mux))
}

func serve(t *testing.T, pub orders.Publisher, publishTimeout time.Duration, req request) *httptest.ResponseRecorder {
	t.Helper()
	if req.method == "" {
		req.method = http.MethodPost
	}
	r := httptest.NewRequestWithContext(t.Context(), req.method, path, strings.NewReader(req.body))
	if req.header == nil {
		req.header = http.Header{"Content-Type": {"application/json"}}
	}
	r.Header = req.header
	w := httptest.NewRecorder()
	api(t, pub, publishTimeout).ServeHTTP(w, r)
	return w
}

// decodeStrict decodes a JSON response body into v, refusing unknown members
// so that the tests pin the body's exact shape.
func decodeStrict(t *testing.T, w *httptest.ResponseRecorder, v any) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	dec := json.NewDecoder(bytes.NewReader(w.Body.Bytes()))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("response body %q: %v", w.Body.String(), err)
	}
}

func TestPostOrderPlacesAValidOrder(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	tests := []struct {
		name string
		req  request
		// wantID is the order id answered and published. Generated ids
		// are ORDER-1, ORDER-2, ... in these tests.
		wantID string
	}{
		{name: "sample order keeps its id", req: request{body: sampleBody}, wantID: "ORDER-123"},
		{name: "orderId missing gets a fresh id", req: request{body: sampleWithout}, wantID: "ORDER-1"},
		{name: "orderId null gets a fresh id", req: request{body: strings.Replace(sampleBody, `"ORDER-123"`, ` null `, 1)}, wantID: "ORDER-1"},
		{name: "orderId empty gets a fresh id", req: request{body: strings.Replace(sampleBody, `"ORDER-123"`, `""`, 1)}, wantID: "ORDER-1"},
		{name: "last of duplicate orderIds wins", req: request{body: `{"orderId":"FIRST",` + sampleBody[1:]}, wantID: "ORDER-123"},
		{name: "a null last of duplicate orderIds gets a fresh id", req: request{body: sampleBody[:len(sampleBody)-1] + `,"orderId":null}`}, wantID: "ORDER-1"},
		{name: "orderId missing, whitespace around the object", req: request{body: " \n" + sampleWithout + " \n\t"}, wantID: "ORDER-1"},
		{
			name:   "unknown members ignored",
			req:    request{body: `{"coupon":"X","customerId":"CUSTOMER-123","products":[{"productId":"PRODUCT-123","quantity":3,"totalPrice":80,"gift":true},{"productId":"PRODUCT-321","quantity":1,"totalPrice":233}]}`},
			wantID: "ORDER-1",
		},
		{
			name:   "content type with charset",
			req:    request{header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}, body: sampleBody},
			wantID: "ORDER-123",
		},
		{
			name:   "content type in capitals",
			req:    request{header: http.Header{"Content-Type": {"Application/JSON; Charset=UTF-8"}}, body: sampleBody},
			wantID: "ORDER-123",
		},
		{
			name:   "body of exactly 1 MiB",
			req:    request{body: sampleBody + strings.Repeat(" ", mib-len(sampleBody))},
			wantID: "ORDER-123",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &eventbustest.Events{}
			w := serve(t, pub, time.Minute, tt.req)

			if w.Code != http.StatusAccepted {
				t.Fatalf("status = %d, want 202; body %s", w.Code, w.Body)
			}
			var got struct {
				OrderID string `json:"orderId"`
			}
			decodeStrict(t, w, &got)
			if got.OrderID != tt.wantID {
				t.Errorf("answered orderId %q, want %q", got.OrderID, tt.wantID)
			}
			order := contracts.SampleOrder()
			order.OrderID = tt.wantID
			action := contracts.LoggingAction{ServiceName: "order-service", Action: "new-order"}
			want := [][]contracts.Event{{order, action}}
			if calls := pub.Calls(); !reflect.DeepEqual(calls, want) {
				t.Errorf("published %#v\nwant %#v", calls, want)
			}
		})
	}
}

type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

func TestPostOrderRejectsABadRequestAndPublishesNothing(t *testing.T) {
	t.Parallel()
	jsonHeader := func(contentType string) http.Header { return http.Header{"Content-Type": {contentType}} }
	tests := []struct {
		name       string
		req        request
		wantStatus int
		wantError  string // a substring of the error message
		wantFields []fieldError
	}{
		// Methods.
		{name: "GET", req: request{method: http.MethodGet}, wantStatus: 405, wantError: "method GET not allowed"},
		{name: "PUT", req: request{method: http.MethodPut, body: sampleBody}, wantStatus: 405, wantError: "use POST"},
		{name: "DELETE", req: request{method: http.MethodDelete}, wantStatus: 405, wantError: "use POST"},
		{name: "PATCH", req: request{method: http.MethodPatch, body: sampleBody}, wantStatus: 405, wantError: "use POST"},

		// Content types.
		{name: "no Content-Type", req: request{header: http.Header{}, body: sampleBody}, wantStatus: 415, wantError: "missing Content-Type"},
		{name: "text/plain", req: request{header: jsonHeader("text/plain"), body: sampleBody}, wantStatus: 415, wantError: `unsupported Content-Type "text/plain"`},
		{name: "form", req: request{header: jsonHeader("application/x-www-form-urlencoded"), body: "orderId=1"}, wantStatus: 415, wantError: "send application/json"},
		{name: "JSON look-alike", req: request{header: jsonHeader("application/jsonl"), body: sampleBody}, wantStatus: 415, wantError: "send application/json"},
		{name: "charset other than UTF-8", req: request{header: jsonHeader("application/json; charset=latin1"), body: sampleBody}, wantStatus: 415, wantError: `unsupported charset "latin1"`},
		{name: "unparseable Content-Type", req: request{header: jsonHeader("application/json; charset"), body: sampleBody}, wantStatus: 415, wantError: "send application/json"},

		// Size.
		{name: "body over 1 MiB", req: request{body: sampleBody + strings.Repeat(" ", 1<<20)}, wantStatus: 413, wantError: "larger than 1048576 bytes"},

		// Malformed bodies.
		{name: "empty body", req: request{}, wantStatus: 400, wantError: "malformed request body: body is empty"},
		{name: "not JSON", req: request{body: "orderId=1"}, wantStatus: 400, wantError: "malformed request body: not valid JSON"},
		{name: "truncated JSON", req: request{body: sampleBody[:50]}, wantStatus: 400, wantError: "not valid JSON"},
		{name: "data after the object", req: request{body: sampleBody + "{}"}, wantStatus: 400, wantError: "unexpected data after the JSON object"},
		{name: "JSON array", req: request{body: "[" + sampleBody + "]"}, wantStatus: 400, wantError: "must be a JSON object, not an array"},
		{name: "JSON null", req: request{body: "null"}, wantStatus: 400, wantError: "must be a JSON object, not null"},
		{name: "order encoded twice", req: request{body: strconv.Quote(sampleBody)}, wantStatus: 400, wantError: "not a string"},
		{name: "invalid UTF-8 in a name, orderId missing", req: request{body: "{\"\x80\":{}}"}, wantStatus: 400, wantError: "malformed request body: must be valid UTF-8"},
		{name: "lone surrogate in a name, orderId missing", req: request{body: `{"\ud800":1,` + sampleWithout[1:]}, wantStatus: 400, wantError: "malformed request body: must be valid UTF-8"},

		// Contract violations: each names its field.
		{
			name: "blank orderId", req: request{body: strings.Replace(sampleBody, `"ORDER-123"`, `"  "`, 1)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"orderId", "must not be blank"}},
		},
		{
			name: "orderId a number", req: request{body: strings.Replace(sampleBody, `"ORDER-123"`, `123`, 1)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"orderId", "must be a string"}},
		},
		{
			name: "customerId missing", req: request{body: strings.Replace(sampleBody, `"customerId":"CUSTOMER-123",`, "", 1)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"customerId", "is required"}},
		},
		{
			name: "customerId in the wrong case", req: request{body: strings.Replace(sampleBody, `"customerId"`, `"CustomerID"`, 1)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"customerId", "is required"}},
		},
		{
			name: "products missing", req: request{body: `{"orderId":"O-1","customerId":"C-1"}`},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products", "is required"}},
		},
		{
			name: "products empty", req: request{body: `{"orderId":"O-1","customerId":"C-1","products":[]}`},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products", "must not be empty"}},
		},
		{
			name: "products an object", req: request{body: `{"orderId":"O-1","customerId":"C-1","products":{"productId":"P"}}`},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products", "must be an array"}},
		},
		{
			name: "product line a string", req: request{body: withLine(`"PRODUCT-123"`)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[0]", "must be an object"}},
		},
		{
			name: "productId missing", req: request{body: withLine(`{"quantity":1,"totalPrice":1}`)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[0].productId", "is required"}},
		},
		{
			name: "quantity zero", req: request{body: withLine(`{"productId":"P","quantity":0,"totalPrice":1}`)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[0].quantity", "must be a positive integer"}},
		},
		{
			name: "quantity negative", req: request{body: withLine(`{"productId":"P","quantity":-2,"totalPrice":1}`)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[0].quantity", "must be a positive integer"}},
		},
		{
			name: "quantity fractional", req: request{body: withLine(`{"productId":"P","quantity":1.5,"totalPrice":1}`)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[0].quantity", "must be a positive integer"}},
		},
		{
			name: "quantity a string", req: request{body: withLine(`{"productId":"P","quantity":"3","totalPrice":1}`)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[0].quantity", "must be a positive integer"}},
		},
		{
			name: "quantity missing", req: request{body: withLine(`{"productId":"P","totalPrice":1}`)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[0].quantity", "is required"}},
		},
		{
			name: "quantity beyond JavaScript's exact integers", req: request{body: withLine(`{"productId":"P","quantity":9007199254740992,"totalPrice":1}`)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[0].quantity", "must be at most 9007199254740991"}},
		},
		{
			name: "totalPrice negative", req: request{body: strings.Replace(sampleBody, `"totalPrice":233`, `"totalPrice":-1`, 1)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[1].totalPrice", "must not be negative"}},
		},
		{
			name: "totalPrice a string", req: request{body: strings.Replace(sampleBody, `"totalPrice":233`, `"totalPrice":"233"`, 1)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[1].totalPrice", "must be a number"}},
		},
		{
			name: "totalPrice beyond float64", req: request{body: strings.Replace(sampleBody, `"totalPrice":233`, `"totalPrice":1e400`, 1)},
			wantStatus: 400, wantError: "invalid order", wantFields: []fieldError{{"products[1].totalPrice", "must be a finite number"}},
		},
		{
			name: "empty object: a fresh orderId, but nothing else",
			req:  request{body: `{}`}, wantStatus: 400, wantError: "invalid order",
			wantFields: []fieldError{{"customerId", "is required"}, {"products", "is required"}},
		},
		{
			name: "every problem listed, in the body's order",
			req: request{body: `{"orderId":" ","customerId":"C-1","products":[` +
				`{"productId":"P","quantity":0,"totalPrice":1},{"productId":"","quantity":1,"totalPrice":-5}]}`},
			wantStatus: 400, wantError: "invalid order",
			wantFields: []fieldError{
				{"orderId", "must not be blank"},
				{"products[0].quantity", "must be a positive integer"},
				{"products[1].productId", "is required"},
				{"products[1].totalPrice", "must not be negative"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			pub := &eventbustest.Events{}
			w := serve(t, pub, time.Minute, tt.req)

			if w.Code != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", w.Code, tt.wantStatus, w.Body)
			}
			var got struct {
				Error  string       `json:"error"`
				Fields []fieldError `json:"fields"`
			}
			decodeStrict(t, w, &got)
			if !strings.Contains(got.Error, tt.wantError) {
				t.Errorf("error = %q, want it to contain %q", got.Error, tt.wantError)
			}
			if !reflect.DeepEqual(got.Fields, tt.wantFields) {
				t.Errorf("fields = %v, want %v", got.Fields, tt.wantFields)
			}
			if allow := w.Header().Get("Allow"); (tt.wantStatus == 405) != (allow == http.MethodPost) {
				t.Errorf("Allow = %q with status %d, want POST exactly for 405", allow, tt.wantStatus)
			}
			if calls := pub.Calls(); len(calls) != 0 {
				t.Errorf("published %v, want nothing", calls)
			}
		})
	}
}

func TestPostOrderAnswers503WhenKafkaIsUnavailable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		pub  orders.Publisher
	}{
		{name: "publish failed", pub: &eventbustest.Events{Fail: func(int) error { return errors.New("kafka: publish: not enough in-sync replicas") }}},
		{name: "publish timed out", pub: eventbustest.Blocking[contracts.Event]{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			w := serve(t, tt.pub, 10*time.Millisecond, request{body: sampleBody})

			if w.Code != http.StatusServiceUnavailable {
				t.Fatalf("status = %d, want 503; body %s", w.Code, w.Body)
			}
			var got struct {
				Error   string `json:"error"`
				OrderID string `json:"orderId"`
			}
			decodeStrict(t, w, &got)
			if !strings.Contains(got.Error, "did not acknowledge") || !strings.Contains(got.Error, "retry with the same orderId") {
				t.Errorf("error = %q, want it to say Kafka did not acknowledge and how to retry", got.Error)
			}
			if got.OrderID != "ORDER-123" {
				t.Errorf("orderId = %q, want the order's id, ORDER-123, to retry with", got.OrderID)
			}
		})
	}
}

// TestPostOrderTooLargeForKafka posts an order under the body limit that
// Kafka would not take once encoded with its headers: the producer refuses
// it before sending anything, and the client hears 413, not "retry".
func TestPostOrderTooLargeForKafka(t *testing.T) {
	t.Parallel()
	pub := &eventbustest.Events{Fail: func(int) error { return fmt.Errorf("place order: %w", kafka.ErrRecordTooLarge) }}
	w := serve(t, pub, time.Second, request{body: sampleBody})
	if w.Code != http.StatusRequestEntityTooLarge {
		t.Fatalf("status = %d, want 413; body %s", w.Code, w.Body)
	}
	if !strings.Contains(w.Body.String(), "too large for Kafka") {
		t.Errorf("body %s, want it to say the order is too large for Kafka", w.Body)
	}
}

func TestPostOrderListsALimitedNumberOfProblems(t *testing.T) {
	t.Parallel()
	const lines = 50
	bad := strings.Repeat(`{"productId":"P","quantity":0,"totalPrice":1},`, lines)
	pub := &eventbustest.Events{}
	w := serve(t, pub, time.Minute, request{body: withLine(strings.TrimSuffix(bad, ","))})

	if w.Code != http.StatusBadRequest {
		t.Fatalf("status = %d, want 400; body %s", w.Code, w.Body)
	}
	var got struct {
		Error  string       `json:"error"`
		Fields []fieldError `json:"fields"`
	}
	decodeStrict(t, w, &got)
	listed := len(got.Fields)
	if listed == 0 || listed >= lines {
		t.Fatalf("listed %d of %d problems, want some but not all", listed, lines)
	}
	if want := fmt.Sprintf("invalid order; %d more not listed", lines-listed); got.Error != want {
		t.Errorf("error = %q, want %q", got.Error, want)
	}
	if last := got.Fields[listed-1]; last.Field != fmt.Sprintf("products[%d].quantity", listed-1) {
		t.Errorf("last listed problem is %v, want the quantity of line %d", last, listed-1)
	}
	if calls := pub.Calls(); len(calls) != 0 {
		t.Errorf("published %v, want nothing", calls)
	}
}

// timedOutBody is a request body that the server's read timeout cut.
type timedOutBody struct{}

func (timedOutBody) Read([]byte) (int, error) {
	return 0, &net.OpError{Op: "read", Net: "tcp", Source: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8000},
		Err: os.ErrDeadlineExceeded}
}

// TestPostOrderAnswers408ForABodyCutByTheReadTimeout: the client was too
// slow, and is told so without the server's socket addresses.
func TestPostOrderAnswers408ForABodyCutByTheReadTimeout(t *testing.T) {
	t.Parallel()
	pub := &eventbustest.Events{}
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, path, timedOutBody{})
	r.Header.Set("Content-Type", "application/json")
	w := httptest.NewRecorder()
	api(t, pub, time.Second).ServeHTTP(w, r)
	if w.Code != http.StatusRequestTimeout {
		t.Fatalf("status = %d, want 408; body %s", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "127.0.0.1") {
		t.Errorf("body %s names the server's socket", w.Body)
	}
	if n := len(pub.Calls()); n != 0 {
		t.Errorf("published %d records for a body that never arrived", n)
	}
}
