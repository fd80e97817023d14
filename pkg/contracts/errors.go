package contracts

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// ErrInvalid is matched, via errors.Is, by every error this package returns
// for an event that breaks the contract. Such an event will never become
// valid by retrying, so consumers send it to the dead-letter topic.
var ErrInvalid = errors.New("invalid event")

// FieldError is one way in which an event breaks the contract.
type FieldError struct {
	// Field is the JSON path of the offending value, such as "orderId" or
	// "products[1].quantity". It is empty when the body as a whole is at
	// fault, for example when it is not JSON.
	Field string
	// Reason says what is wrong, such as "is required".
	Reason string
}

// Error returns "field: reason", or only the reason for the whole body.
func (e FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + ": " + e.Reason
}

// ValidationError lists everything wrong with one event, so that an HTTP
// handler can report all offending fields in one response instead of making
// the client fix them one at a time.
type ValidationError struct {
	// EventType is the type of the rejected event, one of the EventType
	// constants.
	EventType string
	// Fields holds one entry per offending field, in the order of the
	// body; never empty.
	Fields []FieldError
	// Omitted counts the violations left out of Fields because there were
	// too many to report.
	Omitted int
}

// Error returns all field errors on one line, for logs and dead-letter
// headers.
func (e *ValidationError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invalid %s event: ", e.EventType)
	for i, f := range e.Fields {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(f.Error())
	}
	if e.Omitted > 0 {
		fmt.Fprintf(&b, "; and %d more", e.Omitted)
	}
	return b.String()
}

// Is makes errors.Is(err, ErrInvalid) true for every ValidationError.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

// Reasons given in FieldErrors.
const (
	reasonRequired        = "is required"
	reasonBlank           = "must not be blank"
	reasonUTF8            = "must be valid UTF-8"
	reasonString          = "must be a string"
	reasonArray           = "must be an array"
	reasonObject          = "must be an object"
	reasonNoProducts      = "must not be empty"
	reasonPositiveInteger = "must be a positive integer"
	reasonNumber          = "must be a number"
	reasonFinite          = "must be a finite number"
	reasonNegative        = "must not be negative"
)

// maxQuantity is the largest quantity accepted. Above 2^53-1 a JavaScript
// number can no longer hold every integer, so a kafkajs service would read a
// different quantity from the same body than we do; the min keeps int(f)
// from overflowing where int has 32 bits.
const maxQuantity = min(1<<53-1, math.MaxInt)

// reasonTooMany is the reason for a quantity above maxQuantity.
var reasonTooMany = fmt.Sprintf("must be at most %d", maxQuantity)

// maxFieldErrors bounds the length of a ValidationError. A broken or hostile
// body can hold a million bad product lines, and the error travels on into
// logs, dead-letter headers and HTTP responses, which must stay small.
const maxFieldErrors = 20

// checker collects the ways an event breaks the contract, to be returned
// together as one ValidationError.
type checker struct {
	eventType string
	fields    []FieldError
	omitted   int
	// reported holds the path of every violation, kept or omitted.
	reported map[string]bool
}

// add records a violation unless the field, or a value containing it, has
// already been reported. Decoding leaves a zero value behind a wrong JSON
// type, and following "products[0]: must be an object" with
// "products[0].productId: is required" would only add noise.
func (c *checker) add(field, reason string) {
	for p := field; ; p = parent(p) {
		if c.reported[p] {
			return
		}
		if p == "" {
			break
		}
	}
	if c.reported == nil {
		c.reported = make(map[string]bool)
	}
	c.reported[field] = true
	if len(c.fields) == maxFieldErrors {
		c.omitted++
		return
	}
	c.fields = append(c.fields, FieldError{Field: field, Reason: reason})
}

// parent returns the path of the value that contains the one at path:
// "products[1]" for "products[1].quantity", and "" (the body) for "orderId".
func parent(path string) string {
	if i := strings.LastIndexAny(path, ".["); i >= 0 {
		return path[:i]
	}
	return ""
}

// err returns the collected violations as a *ValidationError, or a nil error
// (not a nil *ValidationError, which would be a non-nil error) if there are
// none.
func (c *checker) err() error {
	if len(c.fields) == 0 {
		return nil
	}
	return &ValidationError{EventType: c.eventType, Fields: c.fields, Omitted: c.omitted}
}

// text checks an id or name. Whitespace-only counts as missing: no service
// can look up a product or an order by it. Invalid UTF-8 is refused because
// JSON cannot carry it; encoding would silently replace it.
func (c *checker) text(field, s string) {
	if reason := textProblem(s); reason != "" {
		c.add(field, reason)
	}
}

func (c *checker) quantity(field string, q int) {
	if reason := quantityProblem(q); reason != "" {
		c.add(field, reason)
	}
}

func (c *checker) price(field string, p float64) {
	if reason := priceProblem(p); reason != "" {
		c.add(field, reason)
	}
}

// The problem functions return why a value breaks the contract, or "".

func textProblem(s string) string {
	switch {
	case s == "":
		return reasonRequired
	case strings.TrimSpace(s) == "":
		return reasonBlank
	case !utf8.ValidString(s):
		return reasonUTF8
	}
	return ""
}

func quantityProblem(q int) string {
	switch {
	case q < 1:
		return reasonPositiveInteger
	case q > maxQuantity:
		return reasonTooMany
	}
	return ""
}

func priceProblem(p float64) string {
	switch {
	case math.IsNaN(p) || math.IsInf(p, 0):
		return reasonFinite
	case p < 0:
		return reasonNegative
	}
	return ""
}
