package contracts

import (
	"bytes"
	"encoding/json"
	"encoding/json/jsontext"
	jsonv2 "encoding/json/v2"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
)

// Encode validates e and returns its body: compact JSON with the tutorial's
// field names in the tutorial's order, byte for byte what JSON.stringify
// gives for the same object in kafkajs. The only differences are in values
// JavaScript reads back identically: Go escapes U+2028 and U+2029, and writes
// a negative zero price as -0.
//
// An invalid event is refused with a *ValidationError, so a bad body is
// caught by its producer rather than by every consumer.
func Encode(e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	// JSON.stringify leaves <, > and & alone; encoding/json escapes them for
	// the sake of HTML, which would make our bodies differ from kafkajs'.
	// U+2028 and U+2029 stay escaped, as encoding/json has always done.
	b, err := jsonv2.Marshal(e, jsontext.EscapeForHTML(false), jsontext.EscapeForJS(true))
	if err != nil {
		return nil, fmt.Errorf("encode %s event: %w", e.EventType(), err)
	}
	return b, nil
}

// DecodeOrder decodes and validates a new-order-topic body.
//
// Unknown fields are ignored. Field names match exactly, as in JSON.parse
// (encoding/json would also take "OrderID" for orderId). A quantity may be
// written in any JSON number form whose value is a whole number, such as 3.0
// or 3e0: that is the same number to JavaScript, though JSON.stringify only
// ever writes 3. A JSON null counts as a missing field.
//
// Every error satisfies errors.Is(err, ErrInvalid) and is a *ValidationError
// naming each offending field.
func DecodeOrder(b []byte) (Order, error) {
	return decode(EventTypeNewOrder, b, fastOrder, func(c *checker, obj object) Order {
		return Order{
			OrderID:    c.readString(obj, "orderId"),
			CustomerID: c.readString(obj, "customerId"),
			Products:   c.readProducts(obj),
		}
	})
}

// DecodeInventoryEmpty decodes and validates an inventory-empty-topic body,
// with the same rules as DecodeOrder.
func DecodeInventoryEmpty(b []byte) (InventoryEmpty, error) {
	return decode(EventTypeInventoryEmpty, b, fastInventoryEmpty, func(c *checker, obj object) InventoryEmpty {
		return InventoryEmpty{ProductID: c.readString(obj, "productId")}
	})
}

// DecodeLoggingAction decodes and validates a new-logging-action-topic body,
// with the same rules as DecodeOrder.
func DecodeLoggingAction(b []byte) (LoggingAction, error) {
	return decode(EventTypeLoggingAction, b, fastLoggingAction, func(c *checker, obj object) LoggingAction {
		return LoggingAction{
			ServiceName: c.readString(obj, "serviceName"),
			Action:      c.readString(obj, "action"),
		}
	})
}

// decode parses b as a JSON object, reads an event from it and checks it.
// The read functions apply the rules already; running the event's own checks
// as well costs little (fields already reported are skipped) and guarantees
// that decoding never accepts what Validate refuses.
func decode[E interface{ check(*checker) }](eventType string, b []byte, fast func([]byte) (E, bool), read func(*checker, object) E) (E, error) {
	// Most bodies are valid: take them in one typed pass, a third of the
	// cost of the generic one. Anything it does not take whole (a missing
	// or null member, a quantity written 3.0, a duplicate or misspelt name, a
	// body that breaks the contract) goes the generic way, which decides
	// alone and names every problem.
	if e, ok := fast(b); ok {
		var fc checker
		if e.check(&fc); fc.err() == nil {
			return e, nil
		}
	}
	var zero E
	c := checker{eventType: eventType}
	obj, ok := c.parse(b)
	if !ok {
		return zero, c.err()
	}
	e := read(&c, obj)
	e.check(&c)
	if err := c.err(); err != nil {
		return zero, err
	}
	return e, nil
}

// The fast decoders read a body in one typed pass. They report false for
// anything but a JSON object in which every member the contract requires is
// present, not null and of its type; encoding/json/v2 matches names exactly,
// refuses duplicate names and ignores unknown ones, as the generic path does.

func fastOrder(b []byte) (Order, bool) {
	var w struct {
		OrderID    *string `json:"orderId"`
		CustomerID *string `json:"customerId"`
		Products   []struct {
			ProductID  *string  `json:"productId"`
			Quantity   *int     `json:"quantity"`
			TotalPrice *float64 `json:"totalPrice"`
		} `json:"products"`
	}
	if jsonv2.Unmarshal(b, &w) != nil || w.OrderID == nil || w.CustomerID == nil {
		return Order{}, false
	}
	o := Order{OrderID: *w.OrderID, CustomerID: *w.CustomerID, Products: make([]OrderLine, len(w.Products))}
	for i, l := range w.Products {
		if l.ProductID == nil || l.Quantity == nil || l.TotalPrice == nil {
			return Order{}, false
		}
		o.Products[i] = OrderLine{ProductID: *l.ProductID, Quantity: *l.Quantity, TotalPrice: *l.TotalPrice}
	}
	return o, true
}

func fastInventoryEmpty(b []byte) (InventoryEmpty, bool) {
	var w struct {
		ProductID *string `json:"productId"`
	}
	if jsonv2.Unmarshal(b, &w) != nil || w.ProductID == nil {
		return InventoryEmpty{}, false
	}
	return InventoryEmpty{ProductID: *w.ProductID}, true
}

func fastLoggingAction(b []byte) (LoggingAction, bool) {
	var w struct {
		ServiceName *string `json:"serviceName"`
		Action      *string `json:"action"`
	}
	if jsonv2.Unmarshal(b, &w) != nil || w.ServiceName == nil || w.Action == nil {
		return LoggingAction{}, false
	}
	return LoggingAction{ServiceName: *w.ServiceName, Action: *w.Action}, true
}

// object is a decoded JSON object together with its path in the body.
type object struct {
	path    string
	members map[string]any
}

// pathOf returns the JSON path of the member named key.
func (o object) pathOf(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// parse decodes b as exactly one JSON object.
//
// It decodes into generic values rather than straight into the event struct
// for two reasons. Numbers stay json.Number, so a fractional quantity or a
// price beyond float64 (1e400) is reported against its field, where
// encoding/json would fail the whole body with an error naming no usable
// path. And member names match exactly, as they do for JSON.parse.
func (c *checker) parse(b []byte) (object, bool) {
	if path, bad := invalidText(b); bad {
		c.add(path, reasonUTF8)
		return object{}, false
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		if err == io.EOF {
			c.add("", "body is empty")
		} else {
			c.add("", "not valid JSON: "+err.Error())
		}
		return object{}, false
	}
	// A Decoder reads a stream of values and stops after the first;
	// JSON.parse, like us, refuses anything but whitespace after it.
	if rest := bytes.TrimLeft(b[dec.InputOffset():], " \t\r\n"); len(rest) > 0 {
		c.add("", "unexpected data after the JSON object")
		return object{}, false
	}
	members, ok := v.(map[string]any)
	if !ok {
		// Naming what came instead catches the usual mistake: a body
		// JSON-encoded twice arrives as a string.
		c.add("", "must be a JSON object, not "+kindOf(v))
		return object{}, false
	}
	return object{members: members}, true
}

// invalidText reports the path of the first string in b that is not valid
// UTF-8: an invalid byte, or an escaped lone surrogate. encoding/json would
// read either as U+FFFD, so that two different ids could be taken for one.
// Other syntax errors are left to the decoder, which reports them.
func invalidText(b []byte) (string, bool) {
	// Duplicate names are the decoder's to judge; stopping at one here
	// would leave the strings after it unchecked.
	_, err := jsontext.NewDecoder(bytes.NewReader(b), jsontext.AllowDuplicateNames(true)).ReadValue()
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		return "", false
	}
	if msg := se.Err.Error(); !strings.Contains(msg, "UTF-8") && !strings.Contains(msg, "surrogate") {
		return "", false
	}
	return pathOf(se.JSONPointer), true
}

// pathOf turns a JSON Pointer (/products/0/productId) into the path the
// errors use (products[0].productId).
func pathOf(ptr jsontext.Pointer) string {
	var path strings.Builder
	for i, tok := range strings.Split(string(ptr), "/")[1:] {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		if _, err := strconv.Atoi(tok); err == nil && i > 0 {
			path.WriteString("[" + tok + "]")
			continue
		}
		if i > 0 {
			path.WriteByte('.')
		}
		path.WriteString(tok)
	}
	return path.String()
}

func kindOf(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	}
	return fmt.Sprintf("%T", v)
}

// The read methods return a member's value, checked against the contract as
// it is read so that violations are listed in the body's order. A missing or
// null member is reported as required; a member of the wrong JSON type, or
// otherwise invalid, is reported and read as the zero value.

func (c *checker) readString(o object, key string) string {
	path := o.pathOf(key)
	switch v := o.members[key].(type) {
	case nil:
		c.add(path, reasonRequired)
	case string:
		c.text(path, v)
		return v
	default:
		c.add(path, reasonString)
	}
	return ""
}

func (c *checker) readQuantity(o object, key string) int {
	path := o.pathOf(key)
	v := o.members[key]
	if v == nil {
		c.add(path, reasonRequired)
		return 0
	}
	n, isNumber := v.(json.Number)
	f, err := numberValue(n)
	// Range-check as a float: converting to int first would be undefined
	// for values beyond int's range.
	switch {
	case !isNumber || err != nil || f != math.Trunc(f) || f < 1:
		c.add(path, reasonPositiveInteger)
	case f > maxQuantity:
		c.add(path, reasonTooMany)
	default:
		return int(f)
	}
	return 0
}

func (c *checker) readPrice(o object, key string) float64 {
	path := o.pathOf(key)
	v := o.members[key]
	if v == nil {
		c.add(path, reasonRequired)
		return 0
	}
	n, isNumber := v.(json.Number)
	if !isNumber {
		c.add(path, reasonNumber)
		return 0
	}
	f, err := numberValue(n)
	if err != nil {
		c.add(path, reasonFinite)
		return 0
	}
	c.price(path, f)
	return f
}

// numberValue returns the value of a JSON number as JavaScript reads it. The
// decoder has checked the syntax, so the only error is for numbers beyond
// float64's range, which JavaScript would read as Infinity. Numbers too
// small to represent read as 0 without error, as in JavaScript.
func numberValue(n json.Number) (float64, error) {
	return strconv.ParseFloat(string(n), 64)
}

func (c *checker) readProducts(o object) []OrderLine {
	const key = "products"
	var items []any
	switch v := o.members[key].(type) {
	case nil:
		c.add(key, reasonRequired)
		return nil
	case []any:
		items = v
	default:
		c.add(key, reasonArray)
		return nil
	}
	if len(items) == 0 {
		c.add(key, reasonNoProducts)
		return nil
	}
	lines := make([]OrderLine, len(items))
	for i, item := range items {
		path := linePath(i)
		members, ok := item.(map[string]any)
		if !ok {
			c.add(path, reasonObject)
			continue
		}
		line := object{path: path, members: members}
		lines[i] = OrderLine{
			ProductID:  c.readString(line, "productId"),
			Quantity:   c.readQuantity(line, "quantity"),
			TotalPrice: c.readPrice(line, "totalPrice"),
		}
	}
	return lines
}
