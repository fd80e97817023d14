// Package httpapi is the logging service's HTTP API:
//
//	GET /actions
//
// answers 200 with the Summary of the actions recorded so far: their total,
// and one count per service and action, for example
//
//	{"total": 1, "actions": [{"serviceName": "order-service", "action": "new-order", "count": 1}]}
//
// indented for people reading it with curl.
package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/eventshop/eventshop/services/logging-service/internal/actionlog"
)

// Counts is what the API reads; *actionlog.Recorder is one.
type Counts interface {
	// Counts returns how often each service reported each action, ordered
	// by service name and then action.
	Counts() []actionlog.Count
}

// Summary is the body of GET /actions.
type Summary struct {
	// Total is the number of actions recorded, the sum of every Count.
	Total int `json:"total"`
	// Actions holds one entry per service and action, ordered by service
	// name and then action; it is empty, not null, before the first action.
	Actions []actionlog.Count `json:"actions"`
}

// Mux is where routes are registered: an *http.ServeMux or a service's App.
type Mux interface {
	// Handle registers h for requests that match pattern.
	Handle(pattern string, h http.Handler)
}

// Register adds GET /actions, reading from counts, to mux.
func Register(mux Mux, counts Counts) {
	mux.Handle("GET /actions", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s := Summary{Actions: counts.Counts()}
		for _, c := range s.Actions {
			s.Total += c.Count
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s) // the client is gone if this fails; nothing to tell it
	}))
}
