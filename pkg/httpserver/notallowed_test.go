package httpserver_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eventshop/eventshop/pkg/httpserver"
)

// TestJSONNotAllowedAnswersTheMuxs405InJSON serves routes that name their
// methods: a method no route of the path takes gets 405, the Allow header
// and a JSON error body; everything else is answered as the mux and the
// routes answer it.
func TestJSONNotAllowedAnswersTheMuxs405InJSON(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("POST /orders", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusAccepted)
	}))
	mux.Handle("GET /stock", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("stock"))
	}))
	// A route that answers 405 itself keeps its own answer.
	mux.Handle("DELETE /stock", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "the stock stays", http.StatusMethodNotAllowed)
	}))
	h := httpserver.JSONNotAllowed(mux)

	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
		wantType     string
		wantBody     string
	}{
		{http.MethodPost, "/orders", http.StatusAccepted, "", "", ""},
		{http.MethodGet, "/orders", http.StatusMethodNotAllowed, "POST", "application/json",
			`{"error":"method GET not allowed: use POST"}` + "\n"},
		{http.MethodPut, "/orders", http.StatusMethodNotAllowed, "POST", "application/json",
			`{"error":"method PUT not allowed: use POST"}` + "\n"},
		{http.MethodGet, "/stock", http.StatusOK, "", "text/plain; charset=utf-8", "stock"},
		{http.MethodPost, "/stock", http.StatusMethodNotAllowed, "DELETE, GET, HEAD", "application/json",
			`{"error":"method POST not allowed: use DELETE, GET, HEAD"}` + "\n"},
		{http.MethodDelete, "/stock", http.StatusMethodNotAllowed, "", "text/plain; charset=utf-8", "the stock stays\n"},
		{http.MethodGet, "/nowhere", http.StatusNotFound, "", "text/plain; charset=utf-8", "404 page not found\n"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			t.Parallel()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequestWithContext(t.Context(), tt.method, tt.path, nil))
			if w.Code != tt.wantStatus {
				t.Errorf("status = %d, want %d", w.Code, tt.wantStatus)
			}
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
			if got := w.Header().Get("Content-Type"); got != tt.wantType {
				t.Errorf("Content-Type = %q, want %q", got, tt.wantType)
			}
			if got := w.Body.String(); got != tt.wantBody {
				t.Errorf("body = %q, want %q", got, tt.wantBody)
			}
		})
	}
}
