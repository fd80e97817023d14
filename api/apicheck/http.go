package apicheck

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Exchange is one HTTP request and the answer to it.
type Exchange struct {
	Method, Path string
	// RequestHeader and RequestBody are what the client sent.
	RequestHeader http.Header
	RequestBody   []byte
	Status        int
	Header        http.Header
	Body          []byte
}

// CheckExchange reports every way e breaks openapi.yaml:
//
//   - a path it does not document, or a method the path does not take
//     answered other than with its documented 405;
//   - a status the operation does not document;
//   - a response whose content type, required headers or body the
//     operation does not document, or a body its schema refuses;
//   - a request body the schema refuses that was answered 2xx or 503, or
//     one it accepts that was answered 400 (the server refused what the
//     document promises it takes), or a content type it documents that
//     was answered 415.
func (d *Documents) CheckExchange(e Exchange) error {
	item, ok := dig(d.openapi, "paths", e.Path).(map[string]any)
	if !ok {
		return fmt.Errorf("%s %s: path not in openapi.yaml", e.Method, e.Path)
	}
	method := strings.ToLower(e.Method)
	op, ok := item[method].(map[string]any)
	if !ok {
		if e.Status != http.StatusMethodNotAllowed {
			return fmt.Errorf("%s %s: method not in openapi.yaml, answered %d rather than 405", e.Method, e.Path, e.Status)
		}
		// Every operation of the path documents the same 405; check
		// against the first.
		for _, m := range slices.Sorted(maps.Keys(item)) {
			if _, isOp := item[m].(map[string]any); isOp && m != "servers" {
				method, op = m, item[m].(map[string]any)
				break
			}
		}
	}
	opLoc := "openapi.yaml#/paths/" + escape(e.Path) + "/" + method
	var errs []error
	if err := d.checkResponse(op, opLoc, e); err != nil {
		errs = append(errs, err)
	}
	if item[strings.ToLower(e.Method)] != nil {
		if err := d.checkRequest(op, opLoc, e); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%s %s answered %d: %w", e.Method, e.Path, e.Status, err)
	}
	return nil
}

func (d *Documents) checkResponse(op map[string]any, opLoc string, e Exchange) error {
	code := strconv.Itoa(e.Status)
	resp, ok := dig(op, "responses", code).(map[string]any)
	if !ok {
		return fmt.Errorf("status %d not in openapi.yaml", e.Status)
	}
	loc := opLoc + "/responses/" + code
	if ref, isRef := resp["$ref"].(string); isRef {
		name, _ := strings.CutPrefix(ref, "#/components/responses/")
		resp, _ = dig(d.openapi, "components", "responses", name).(map[string]any)
		loc = "openapi.yaml" + ref
	}
	var errs []error
	headers, _ := resp["headers"].(map[string]any)
	for _, name := range slices.Sorted(maps.Keys(headers)) {
		if req, _ := dig(headers[name], "required").(bool); req && e.Header.Get(name) == "" {
			errs = append(errs, fmt.Errorf("required header %s missing", name))
		}
	}
	content, _ := resp["content"].(map[string]any)
	if len(content) == 0 {
		if len(e.Body) > 0 {
			errs = append(errs, fmt.Errorf("body %.200q where openapi.yaml documents none", e.Body))
		}
		return errors.Join(errs...)
	}
	mediaType, _, err := mime.ParseMediaType(e.Header.Get("Content-Type"))
	if _, documented := content[mediaType]; err != nil || !documented {
		errs = append(errs, fmt.Errorf("content type %q not in openapi.yaml (%s)", e.Header.Get("Content-Type"), strings.Join(slices.Sorted(maps.Keys(content)), ", ")))
		return errors.Join(errs...)
	}
	if err := d.checkBody(loc+"/content/"+escape(mediaType)+"/schema", mediaType, e.Body); err != nil {
		errs = append(errs, fmt.Errorf("response body %.300s: %w", e.Body, err))
	}
	return errors.Join(errs...)
}

func (d *Documents) checkRequest(op map[string]any, opLoc string, e Exchange) error {
	content, _ := dig(op, "requestBody", "content").(map[string]any)
	if len(content) == 0 {
		return nil
	}
	mediaType, params, err := mime.ParseMediaType(e.RequestHeader.Get("Content-Type"))
	_, documented := content[mediaType]
	// JSON has no other encoding than UTF-8 (RFC 8259).
	charset, hasCharset := params["charset"]
	documented = documented && err == nil && (!hasCharset || mediaType != "application/json" || strings.EqualFold(charset, "utf-8"))
	var bodyErr error
	if documented {
		bodyErr = d.checkBody(opLoc+"/requestBody/content/"+escape(mediaType)+"/schema", mediaType, e.RequestBody)
	}
	switch {
	case e.Status/100 == 2 || e.Status == http.StatusServiceUnavailable:
		if !documented {
			return fmt.Errorf("request content type %q not in openapi.yaml, yet taken", e.RequestHeader.Get("Content-Type"))
		}
		if bodyErr != nil {
			return fmt.Errorf("request body %.300s refused by openapi.yaml, yet taken: %w", e.RequestBody, bodyErr)
		}
	case e.Status == http.StatusBadRequest:
		if documented && bodyErr == nil {
			return fmt.Errorf("request body %.300s valid by openapi.yaml, yet refused", e.RequestBody)
		}
	case e.Status == http.StatusUnsupportedMediaType:
		if documented {
			return fmt.Errorf("request content type %q is in openapi.yaml, yet refused", e.RequestHeader.Get("Content-Type"))
		}
	}
	return nil
}

// checkBody validates a JSON body against the schema at loc; a body of
// another media type has to be text.
func (d *Documents) checkBody(loc, mediaType string, body []byte) error {
	if mediaType != "application/json" {
		return nil
	}
	v, err := DecodeJSON(body)
	if err != nil {
		return err
	}
	s, err := d.Schema(loc)
	if err != nil {
		return err
	}
	return s.Validate(v)
}

// escape makes s one token of a JSON Pointer in a URL fragment.
func escape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// Handler returns next with every exchange it serves checked by
// CheckExchange; what breaks the document fails tb. The answer is buffered
// and then passed on whole, so next cannot stream.
func (d *Documents) Handler(tb testing.TB, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// A body that fails to arrive fails next the same way, after the
		// part that did.
		reqBody, err := io.ReadAll(r.Body)
		r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(reqBody), failingReader{err}))
		rec := httptest.NewRecorder()
		next.ServeHTTP(rec, r)
		res := rec.Result()
		if err := d.CheckExchange(Exchange{
			Method: r.Method, Path: r.URL.Path, RequestHeader: r.Header, RequestBody: reqBody,
			Status: res.StatusCode, Header: res.Header, Body: rec.Body.Bytes(),
		}); err != nil {
			tb.Errorf("apicheck: %v", err)
		}
		maps.Copy(w.Header(), res.Header)
		w.WriteHeader(res.StatusCode)
		_, _ = w.Write(rec.Body.Bytes())
	})
}

// Transport returns next (http.DefaultTransport if nil) with every exchange
// made through it checked by CheckExchange; what breaks the document fails
// tb. Bodies are read whole.
func (d *Documents) Transport(tb testing.TB, next http.RoundTripper) http.RoundTripper {
	if next == nil {
		next = http.DefaultTransport
	}
	return roundTripper(func(r *http.Request) (*http.Response, error) {
		var reqBody []byte
		if r.Body != nil {
			var err error
			if reqBody, err = io.ReadAll(r.Body); err != nil {
				return nil, err
			}
			_ = r.Body.Close()
			r.Body = io.NopCloser(bytes.NewReader(reqBody))
		}
		res, err := next.RoundTrip(r)
		if err != nil {
			return nil, err
		}
		body, err := io.ReadAll(res.Body)
		_ = res.Body.Close()
		res.Body = io.NopCloser(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		if err := d.CheckExchange(Exchange{
			Method: r.Method, Path: r.URL.Path, RequestHeader: r.Header, RequestBody: reqBody,
			Status: res.StatusCode, Header: res.Header, Body: body,
		}); err != nil {
			tb.Errorf("apicheck: %v", err)
		}
		return res, nil
	})
}

type failingReader struct{ err error }

func (r failingReader) Read([]byte) (int, error) {
	if r.err == nil {
		return 0, io.EOF
	}
	return 0, r.err
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
