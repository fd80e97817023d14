package liveview

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// TestOrderOf checks the JSON the form's fields become: numbers as JSON
// numbers, anything else as typed so that order-service names the field,
// empty lines left out and an empty orderId not sent.
func TestOrderOf(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"two lines", url.Values{"customerId": {"C"}, "orderId": {""}, "productId": {"P1", "P2"}, "quantity": {"3", "1"}, "totalPrice": {"60", "8.5"}},
			`{"customerId":"C","products":[{"productId":"P1","quantity":3,"totalPrice":60},{"productId":"P2","quantity":1,"totalPrice":8.5}]}`},
		{"empty second line, order id given", url.Values{"customerId": {"C"}, "orderId": {" O-1 "}, "productId": {"P1", ""}, "quantity": {"9", ""}, "totalPrice": {"90", ""}},
			`{"customerId":"C","orderId":"O-1","products":[{"productId":"P1","quantity":9,"totalPrice":90}]}`},
		{"not numbers", url.Values{"customerId": {""}, "productId": {"P1"}, "quantity": {"three"}, "totalPrice": {"NaN"}},
			`{"customerId":"","products":[{"productId":"P1","quantity":"three","totalPrice":"NaN"}]}`},
		{"no lines", url.Values{"customerId": {"C"}}, `{"customerId":"C","products":[]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := json.Marshal(orderOf(tc.form))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("orderOf(%v) = %s, want %s", tc.form, got, tc.want)
			}
		})
	}
}

// TestOrderFromAnotherSite checks that the form's POST is refused when a
// page of another site sends it, before it reaches order-service.
func TestOrderFromAnotherSite(t *testing.T) {
	t.Parallel()
	placed := 0
	orders := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		placed++
		w.WriteHeader(http.StatusAccepted)
	}))
	defer orders.Close()
	h := New(Config{OrderURL: orders.URL + "/orders"}).handler()
	for _, tc := range []struct {
		site string
		want int
	}{{"cross-site", http.StatusForbidden}, {"same-origin", http.StatusOK}} {
		r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/order", strings.NewReader("customerId=C"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Sec-Fetch-Site", tc.site)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("POST /order with Sec-Fetch-Site %s: %d, want %d", tc.site, w.Code, tc.want)
		}
	}
	if placed != 1 {
		t.Errorf("order-service got %d orders, want 1 (the same-origin one)", placed)
	}
}
