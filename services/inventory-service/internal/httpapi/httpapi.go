// Package httpapi is the inventory service's HTTP API:
//
//	GET /stock
//
// answers 200 with the current stock as one JSON object mapping each product
// id to its number of items, keys in lexical order, for example
//
//	{"PRODUCT-123":106,"PRODUCT-321":108}
//
// and
//
//	GET /products
//
// answers 200 with each product's state: its stock, the order lines applied
// to it and the times it was refilled, for example
//
//	{"PRODUCT-123":{"stock":106,"lines":1,"refills":0}}
//
// Any instance answers for every product, whichever instance owns it. Other
// methods are the mux's to refuse: the service answers them 405 with a JSON
// error (see httpserver.JSONNotAllowed).
package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

// Stock is what the API reads; *pipeline.View is one.
type Stock interface {
	// Levels returns product id -> items.
	Levels() map[string]int
	// Products returns product id -> state.
	Products() map[string]inventory.Product
}

// Mux is where routes are registered: an *http.ServeMux or a service's App.
type Mux interface {
	// Handle registers h for requests that match pattern.
	Handle(pattern string, h http.Handler)
}

// Register adds the API's routes, reading from stock, to mux.
func Register(mux Mux, stock Stock) {
	mux.Handle("GET /stock", getJSON(func() any { return stock.Levels() }))
	mux.Handle("GET /products", getJSON(func() any { return stock.Products() }))
}

func getJSON(read func() any) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// encoding/json writes map keys sorted, which keeps the output
		// stable. Maps of ints and of products always encode, so the only
		// possible error is a client that went away.
		_ = json.NewEncoder(w).Encode(read())
	})
}
