package actionlog

import (
	"encoding/json"
	"net/http"
)

// Summary is the body of GET /actions.
type Summary struct {
	// Total is the number of actions recorded, the sum of every Count.
	Total int `json:"total"`
	// Actions holds one entry per service and action, ordered by service
	// name and then action; it is empty, not null, before the first action.
	Actions []Count `json:"actions"`
}

// NewHandler returns the handler of GET /actions, which answers with the
// Summary of what r has recorded so far.
func NewHandler(r *Recorder) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s := Summary{Actions: r.Counts()}
		for _, c := range s.Actions {
			s.Total += c.Count
		}
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s) // the client is gone if this fails; nothing to tell it
	})
}
