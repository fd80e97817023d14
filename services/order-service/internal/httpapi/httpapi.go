// Package httpapi serves the order service's HTTP API: POST /orders places an
// order, GET /openapi.yaml serves the API's OpenAPI document (api/openapi.yaml).
//
// The body is the new-order contract as JSON, checked by the same decoder the
// consumers use, so anything the API accepts every consumer accepts too. The
// one difference is that orderId may be left out (or be null or ""): the
// order then gets a fresh id, ORDER-<uuid>. The answer is 202 Accepted with
// {"orderId": ...} once Kafka has acknowledged the order and its logging
// action. Every error is a JSON body {"error": ..., "fields": [...]}, where
// fields, present only for an order that breaks the contract, names each
// offending field by its JSON path, such as products[0].quantity. A method
// other than POST is the mux's to refuse: served behind
// httpserver.JSONNotAllowed, as the service does, it gets 405 with such a
// body and the Allow header.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"strings"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/api"
	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/logging"
	"github.com/eventshop/eventshop/services/order-service/internal/orders"
)

// MaxBodyBytes is the largest request body accepted; a larger one is
// answered with 413. The tutorial's sample order is under 200 bytes.
const MaxBodyBytes = 1 << 20

// Mux is where routes are registered: an *http.ServeMux or a service's App.
type Mux interface {
	// Handle registers h for requests that match pattern.
	Handle(pattern string, h http.Handler)
}

// Register adds POST /orders, which places orders through svc, to mux, and
// GET /openapi.yaml, which serves the API's OpenAPI document.
func Register(mux Mux, svc *orders.Service, log *zap.Logger) {
	mux.Handle("POST /orders", &handler{orders: svc, log: log})
	mux.Handle("GET /openapi.yaml", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(api.OpenAPI) // the client is gone if this fails; nothing to tell it
	}))
}

// handler serves POST /orders.
type handler struct {
	orders *orders.Service
	log    *zap.Logger
}

// ServeHTTP checks, in this order, the content type (415), the body's size
// (413) and content (400), then places the order (202, or 503 if Kafka did
// not acknowledge it in time).
func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := checkContentType(r.Header.Get("Content-Type")); err != nil {
		writeError(w, http.StatusUnsupportedMediaType, err.Error())
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			writeError(w, http.StatusRequestEntityTooLarge,
				fmt.Sprintf("request body is larger than %d bytes", MaxBodyBytes))
			return
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			// The server's read timeout cut a body sent too slowly; the
			// error would name the sockets, which are not the client's
			// business.
			writeError(w, http.StatusRequestTimeout, "request body did not arrive within the server's read timeout")
			return
		}
		writeError(w, http.StatusBadRequest, "could not read request body: "+err.Error())
		return
	}
	order, err := decodeOrder(body, h.orders.NewOrderID)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, invalidBody(err))
		return
	}
	// A client that hangs up does not abandon the publish: the order may be
	// on its way to Kafka already. Place bounds it with its own timeout.
	if err := h.orders.Place(context.WithoutCancel(r.Context()), order, orders.SourceHTTP); err != nil {
		if errors.Is(err, contracts.ErrInvalid) {
			writeJSON(w, http.StatusBadRequest, invalidBody(err))
			return
		}
		if errors.Is(err, kafka.ErrRecordTooLarge) {
			// Nothing was sent: the producer refuses such a batch whole.
			writeError(w, http.StatusRequestEntityTooLarge, "the order is too large for Kafka: "+err.Error())
			return
		}
		// Kafka did not acknowledge in time, which does not prove it did not
		// take the order: say so, and give the id to retry with.
		h.log.Error("order not acknowledged", zap.String("order_id", order.OrderID), zap.Error(err),
			logging.Trace(r.Context()))
		writeJSON(w, http.StatusServiceUnavailable, errorBody{
			Error:   "Kafka did not acknowledge the order; it may not have been placed: retry with the same orderId",
			OrderID: order.OrderID,
		})
		return
	}
	writeJSON(w, http.StatusAccepted, placed{OrderID: order.OrderID})
}

// checkContentType accepts application/json with any parameters, provided a
// charset, if given, is UTF-8: JSON has no other encoding (RFC 8259). A
// request without a Content-Type is refused as well: a client must say what
// it sends, and guessing would leave no room to accept other formats later.
func checkContentType(header string) error {
	if header == "" {
		return errors.New("missing Content-Type header: send application/json")
	}
	mediaType, params, err := mime.ParseMediaType(header)
	if err != nil || mediaType != "application/json" {
		return fmt.Errorf("unsupported Content-Type %q: send application/json", header)
	}
	if charset, ok := params["charset"]; ok && !strings.EqualFold(charset, "utf-8") {
		return fmt.Errorf("unsupported charset %q: JSON must be UTF-8", charset)
	}
	return nil
}

// decodeOrder decodes body with the new-order contract's rules, except that
// a missing, null or empty orderId is replaced by newID(). The contract's
// decoder insists on an id, so the replacement is written into the body
// before it runs.
func decodeOrder(body []byte, newID func() string) (contracts.Order, error) {
	if withID, ok := withOrderID(body, newID); ok {
		body = withID
	}
	return contracts.DecodeOrder(body)
}

// withOrderID returns body with orderId set to newID() if body is a JSON
// object whose orderId is absent. Like DecodeOrder, it matches member names
// exactly and lets the last of duplicate members win, so both agree on what
// orderId is. Every other member is left as it is, since the JSON text is
// copied rather than decoded and encoded again: numbers keep their last
// digit, and invalid text (invalid UTF-8, a lone surrogate, even in a name)
// stays for DecodeOrder to report instead of turning into U+FFFD. A body that
// is not a JSON object is left for DecodeOrder to report.
func withOrderID(body []byte, newID func() string) ([]byte, bool) {
	var probe struct {
		OrderID jsontext.Value `json:"orderId"`
	}
	err := jsonv2.Unmarshal(body, &probe, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	if err != nil || !isAbsent(probe.OrderID) {
		return nil, false
	}
	return appendMember(body, "orderId", newID())
}

// appendMember returns the JSON object text obj with a member name: value
// added last, where it wins over a member of the same name before it. It
// reports false if obj is not an object (a JSON null, say).
func appendMember(obj []byte, name, value string) ([]byte, bool) {
	text := bytes.TrimRight(obj, " \t\r\n")
	if len(text) < 2 || text[len(text)-1] != '}' {
		return nil, false
	}
	inner := bytes.TrimSpace(text[bytes.IndexByte(text, '{')+1 : len(text)-1])
	out := make([]byte, 0, len(text)+len(name)+len(value)+8)
	out = append(out, text[:len(text)-1]...)
	if len(inner) > 0 {
		out = append(out, ',')
	}
	out, _ = jsontext.AppendQuote(out, name)
	out = append(out, ':')
	out, err := jsontext.AppendQuote(out, value)
	if err != nil {
		return nil, false
	}
	return append(out, '}'), true
}

// isAbsent reports whether a member's JSON text leaves the value out, in the
// ways the contract reports as "is required".
func isAbsent(raw jsontext.Value) bool {
	switch string(raw) {
	case "", "null", `""`:
		return true
	}
	return false
}

// placed is the body of a 202 answer.
type placed struct {
	OrderID string `json:"orderId"`
}

// errorBody is the body of every error answer.
type errorBody struct {
	Error  string       `json:"error"`
	Fields []fieldError `json:"fields,omitempty"`
	// OrderID is set when the order's fate is unknown (503).
	OrderID string `json:"orderId,omitempty"`
}

type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// invalidBody describes a decoding error. A body that is not a JSON object
// is reported as malformed, without fields; an order that breaks the
// contract lists every offending field.
func invalidBody(err error) errorBody {
	ve, ok := errors.AsType[*contracts.ValidationError](err)
	if !ok {
		return errorBody{Error: "invalid request body: " + err.Error()}
	}
	var fields []fieldError
	var whole []string
	for _, f := range ve.Fields {
		if f.Field == "" {
			whole = append(whole, f.Reason)
			continue
		}
		fields = append(fields, fieldError{Field: f.Field, Reason: f.Reason})
	}
	if len(whole) > 0 {
		return errorBody{Error: "malformed request body: " + strings.Join(whole, "; "), Fields: fields}
	}
	msg := "invalid order"
	if ve.Omitted > 0 {
		msg = fmt.Sprintf("invalid order; %d more not listed", ve.Omitted)
	}
	return errorBody{Error: msg, Fields: fields}
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	// The client may be gone; there is no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}
