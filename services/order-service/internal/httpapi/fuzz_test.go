package httpapi_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus/eventbustest"
	"github.com/eventshop/eventshop/services/order-service/internal/httpapi"
)

// spaces pads a fuzzed body up to and past the body limit without building
// a megabyte for every input.
var spaces = bytes.Repeat([]byte{' '}, httpapi.MaxBodyBytes+1)

// FuzzPostOrder sends any method, Content-Type and body (followed by up to
// MaxBodyBytes+1 spaces) to /orders, served as the service serves it (see
// api), with a publisher that always succeeds. Whatever
// comes, the handler does not panic and never answers 5xx; it publishes
// nothing unless it answers 202, and on a 202 exactly the order whose id it
// answers, with its logging action; it answers with the status and JSON body
// the package documents, naming the fields the contract's decoder names. The
// seeds, and any input the fuzzer found failing, are in
// testdata/fuzz/FuzzPostOrder.
func FuzzPostOrder(f *testing.F) {
	f.Add(http.MethodPost, "application/json", []byte(sampleBody), uint32(0))
	f.Fuzz(func(t *testing.T, method, contentType string, body []byte, pad uint32) {
		// A method that is not an HTTP token never reaches a handler:
		// net/http refuses the request line.
		if _, err := http.NewRequestWithContext(t.Context(), method, path, nil); err != nil {
			return
		}
		n := min(int(pad), len(spaces))
		r := httptest.NewRequestWithContext(t.Context(), method, path, io.MultiReader(bytes.NewReader(body), bytes.NewReader(spaces[:n])))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		var sent []byte
		tooLarge := len(body)+n > httpapi.MaxBodyBytes
		if !tooLarge {
			sent = append(slices.Clip(body), spaces[:n]...)
		}
		want := expectedAnswer(r.Method, contentType, sent, tooLarge)

		pub := &eventbustest.Events{}
		w := httptest.NewRecorder()
		api(t, pub, time.Minute).ServeHTTP(w, r)

		calls := pub.Calls()
		if w.Code >= 500 {
			t.Errorf("answered %d though the publisher always succeeds; body %s", w.Code, w.Body)
		}
		if w.Code != http.StatusAccepted && len(calls) != 0 {
			t.Errorf("answered %d but published %v, want nothing", w.Code, calls)
		}
		if w.Code != want.status {
			t.Fatalf("%s with Content-Type %q: status = %d, want %d; body %s", r.Method, contentType, w.Code, want.status, w.Body)
		}
		if allow := w.Header().Get("Allow"); (w.Code == http.StatusMethodNotAllowed) != (allow == http.MethodPost) {
			t.Errorf("Allow = %q with status %d, want POST exactly for 405", allow, w.Code)
		}
		if w.Code != http.StatusAccepted {
			checkErrorBody(t, w, want)
			return
		}
		var got struct {
			OrderID string `json:"orderId"`
		}
		decodeStrict(t, w, &got)
		if got.OrderID != want.order.OrderID {
			t.Errorf("answered orderId %q, want %q", got.OrderID, want.order.OrderID)
		}
		if published := [][]contracts.Event{{want.order, newOrderAction}}; !reflect.DeepEqual(calls, published) {
			t.Errorf("published %#v\nwant %#v", calls, published)
		}
	})
}

// answer is what POST /orders must say to a request.
type answer struct {
	status int
	// order is what a 202 publishes.
	order contracts.Order
	// invalid is what a 400 reports.
	invalid *contracts.ValidationError
}

// newOrderAction is the logging action that goes with every placed order.
var newOrderAction = contracts.LoggingAction{ServiceName: "order-service", Action: "new-order"}

// generatedID is the id the handler gives the first order without one, with
// eventbustest.SequentialIDs.
const generatedID = "ORDER-1"

// expectedAnswer works out the answer from the package's documentation: the
// checks in their order, then the contract's decoder on the body, which
// decides alone except that an order without an orderId gets one.
func expectedAnswer(method, contentType string, body []byte, tooLarge bool) answer {
	switch {
	case method != http.MethodPost:
		return answer{status: http.StatusMethodNotAllowed}
	case !isJSON(contentType):
		return answer{status: http.StatusUnsupportedMediaType}
	case tooLarge:
		return answer{status: http.StatusRequestEntityTooLarge}
	}
	order, err := contracts.DecodeOrder(body)
	if err != nil && lacksOrderID(err) {
		order, err = contracts.DecodeOrder(withMember(body, "orderId", generatedID))
	}
	if err != nil {
		ve, _ := errors.AsType[*contracts.ValidationError](err)
		return answer{status: http.StatusBadRequest, invalid: ve}
	}
	return answer{status: http.StatusAccepted, order: order}
}

// isJSON reports whether a Content-Type says UTF-8 JSON.
func isJSON(contentType string) bool {
	mediaType, params, err := mime.ParseMediaType(contentType)
	if err != nil || mediaType != "application/json" {
		return false
	}
	charset, ok := params["charset"]
	return !ok || strings.EqualFold(charset, "utf-8")
}

// lacksOrderID reports whether the contract refused an order for, among other
// things, a missing, null or empty orderId.
func lacksOrderID(err error) bool {
	ve, ok := errors.AsType[*contracts.ValidationError](err)
	return ok && slices.Contains(ve.Fields, contracts.FieldError{Field: "orderId", Reason: "is required"})
}

// withMember returns the JSON object obj with a string member added last,
// where it wins over any earlier member of the same name.
func withMember(obj []byte, name, value string) []byte {
	text := bytes.TrimRight(obj, " \t\r\n")
	inner := bytes.TrimSpace(text[bytes.IndexByte(text, '{')+1 : len(text)-1])
	var out bytes.Buffer
	out.Write(text[:len(text)-1])
	if len(inner) > 0 {
		out.WriteByte(',')
	}
	fmt.Fprintf(&out, "%q:%q}", name, value)
	return out.Bytes()
}

// checkErrorBody checks an error's JSON body: a message, and for a body that
// breaks the contract, every problem the contract's decoder names, by field.
func checkErrorBody(t *testing.T, w *httptest.ResponseRecorder, want answer) {
	t.Helper()
	var got struct {
		Error  string       `json:"error"`
		Fields []fieldError `json:"fields"`
	}
	decodeStrict(t, w, &got)
	if got.Error == "" {
		t.Errorf("error body %s has no message", w.Body)
	}
	if want.invalid == nil {
		if got.Fields != nil {
			t.Errorf("status %d with fields %v, want none", w.Code, got.Fields)
		}
		return
	}
	var fields []fieldError
	var whole []string
	for _, f := range want.invalid.Fields {
		if f.Field == "" {
			whole = append(whole, f.Reason)
			continue
		}
		fields = append(fields, fieldError{Field: f.Field, Reason: f.Reason})
	}
	wantError := "invalid order"
	switch {
	case len(whole) > 0:
		wantError = "malformed request body: " + strings.Join(whole, "; ")
	case want.invalid.Omitted > 0:
		wantError = fmt.Sprintf("invalid order; %d more not listed", want.invalid.Omitted)
	}
	if got.Error != wantError {
		t.Errorf("error = %q, want %q", got.Error, wantError)
	}
	if !reflect.DeepEqual(got.Fields, fields) {
		t.Errorf("fields = %v, want %v", got.Fields, fields)
	}
}
