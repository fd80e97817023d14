package httpapi_test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/eventshop/eventshop/api/apicheck"
	"github.com/eventshop/eventshop/pkg/httpserver"
	"github.com/eventshop/eventshop/services/inventory-service/internal/httpapi"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// fixedStock is a Stock whose levels never change; each product has applied
// one line.
type fixedStock map[string]int

func (s fixedStock) Levels() map[string]int { return maps.Clone(s) }

func (s fixedStock) Products() map[string]inventory.Product {
	ps := make(map[string]inventory.Product, len(s))
	for id, n := range s {
		ps[id] = inventory.Product{Stock: n, Lines: 1}
	}
	return ps
}

func TestStock(t *testing.T) {
	t.Parallel()
	tutorial := fixedStock{"PRODUCT-123": 106, "PRODUCT-321": 108}
	tests := []struct {
		name         string
		stock        fixedStock
		path         string
		method       string
		wantStatus   int
		wantBody     string
		wantJSONMIME bool
	}{
		{
			name:         "tutorial stock",
			stock:        tutorial,
			method:       http.MethodGet,
			wantStatus:   http.StatusOK,
			wantBody:     `{"PRODUCT-123":106,"PRODUCT-321":108}` + "\n",
			wantJSONMIME: true,
		},
		{
			name:         "keys in lexical order",
			stock:        fixedStock{"b": 2, "c": 0, "a": -3, "B": 1},
			method:       http.MethodGet,
			wantStatus:   http.StatusOK,
			wantBody:     `{"B":1,"a":-3,"b":2,"c":0}` + "\n",
			wantJSONMIME: true,
		},
		{
			name:         "products",
			stock:        tutorial,
			path:         "/products",
			method:       http.MethodGet,
			wantStatus:   http.StatusOK,
			wantBody:     `{"PRODUCT-123":{"stock":106,"lines":1,"refills":0},"PRODUCT-321":{"stock":108,"lines":1,"refills":0}}` + "\n",
			wantJSONMIME: true,
		},
		{
			name:         "POST is not allowed",
			stock:        tutorial,
			method:       http.MethodPost,
			wantStatus:   http.StatusMethodNotAllowed,
			wantBody:     `{"error":"method POST not allowed: use GET, HEAD"}` + "\n",
			wantJSONMIME: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mux := http.NewServeMux()
			httpapi.Register(mux, tt.stock)
			path := tt.path
			if path == "" {
				path = "/stock"
			}
			rec := httptest.NewRecorder()
			// Served as the service serves it, every exchange checked
			// against api/openapi.yaml.
			docs, err := apicheck.Load()
			if err != nil {
				t.Fatal(err)
			}
			docs.Handler(t, httpserver.JSONNotAllowed(mux)).ServeHTTP(rec, httptest.NewRequestWithContext(t.Context(), tt.method, path, nil))

			if rec.Code != tt.wantStatus {
				t.Errorf("status %d, want %d", rec.Code, tt.wantStatus)
			}
			if got := rec.Body.String(); got != tt.wantBody {
				t.Errorf("body %q, want %q", got, tt.wantBody)
			}
			if got := rec.Header().Get("Content-Type"); tt.wantJSONMIME && got != "application/json" {
				t.Errorf("Content-Type %q, want application/json", got)
			}
		})
	}
}
