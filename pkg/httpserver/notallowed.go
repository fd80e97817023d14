package httpserver

import (
	"encoding/json"
	"net/http"
)

// JSONNotAllowed returns a handler that serves mux, answering a request
// whose path a route matches but whose method none takes as mux does, with
// 405 and the Allow header, but with the JSON error body the services give
// every error, such as {"error":"method GET not allowed: use POST"}. The
// routes then name their methods in their patterns ("POST /orders") and
// leave the method check to mux.
func JSONNotAllowed(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mux.ServeHTTP(&notAllowedWriter{ResponseWriter: w, r: r}, r)
	})
}

// notAllowedWriter replaces the body of mux's own 405, which is the one
// written for a request no route matched: mux sets the pattern on the
// request before it calls the route's handler.
type notAllowedWriter struct {
	http.ResponseWriter
	r        *http.Request
	replaced bool
}

func (w *notAllowedWriter) WriteHeader(code int) {
	switch {
	case w.replaced:
		return
	case code != http.StatusMethodNotAllowed || w.r.Pattern != "":
		w.ResponseWriter.WriteHeader(code)
		return
	}
	w.replaced = true
	msg := "method " + w.r.Method + " not allowed: use " + w.Header().Get("Allow")
	w.Header().Set("Content-Type", "application/json")
	w.ResponseWriter.WriteHeader(code)
	// The client may be gone; there is no one left to tell.
	_ = json.NewEncoder(w.ResponseWriter).Encode(struct {
		Error string `json:"error"`
	}{msg})
}

// Write drops mux's plain-text body once the JSON one is written.
func (w *notAllowedWriter) Write(b []byte) (int, error) {
	if w.replaced {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *notAllowedWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
