// Package httpapi is the inventory service's HTTP API:
//
//	GET /stock
//
// answers 200 with the current stock as one JSON object mapping each product
// id to its number of items, keys in lexical order, for example
//
//	{"PRODUCT-123":106,"PRODUCT-321":108}
//
// The numbers are one consistent snapshot. Other methods on /stock get 405.
package httpapi

import (
	"encoding/json"
	"net/http"
)

// Stock is what the API reads: a snapshot of product id -> items.
// *inventory.Stock is one.
type Stock interface {
	Levels() map[string]int
}

// Mux is where routes are registered: an *http.ServeMux or a service's App.
type Mux interface {
	Handle(pattern string, h http.Handler)
}

// Register adds the API's routes, reading from stock, to mux.
func Register(mux Mux, stock Stock) {
	mux.Handle("GET /stock", getStock(stock))
}

func getStock(stock Stock) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		// encoding/json writes map keys sorted, which keeps the output
		// stable. A map of ints always encodes, so the only possible error
		// is a client that went away.
		_ = json.NewEncoder(w).Encode(stock.Levels())
	})
}
