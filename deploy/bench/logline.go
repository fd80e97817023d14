package main

import (
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// logLine is what the harness reads from a service's log line in the JSON
// format (LOG_FORMAT=json): when the service wrote it and what it is about.
type logLine struct {
	Time time.Time `json:"ts"`
	// Kind is the kind of a notification-service notification, such as
	// order-approved, and OrderID the order it is about.
	Kind    string `json:"kind"`
	OrderID string `json:"order_id"`
	// ServiceName and Action are a logging action logging-service recorded.
	ServiceName string `json:"service_name"`
	Action      string `json:"action"`
	// CorrelationID follows an order through every service.
	CorrelationID string `json:"correlation_id"`
}

// parseLogLine decodes one JSON log line. A line that is not a JSON object
// with a timestamp (a console line, a panic's trace) is reported as not ok.
func parseLogLine(b []byte) (logLine, bool) {
	var l logLine
	if err := json.Unmarshal(b, &l); err != nil || l.Time.IsZero() {
		return logLine{}, false
	}
	return l, true
}

// kindOrderApproved is the kind of notification-service's congratulation
// (its notify.KindOrderApproved).
const kindOrderApproved = "order-approved"

// arrivals records, from their log lines, when notification-service
// congratulated each order's customer and when logging-service recorded each
// inventory-updated action. It is safe for concurrent use.
type arrivals struct {
	mu sync.Mutex
	// notified holds the first congratulation per order id.
	notified map[string]time.Time
	// updated holds the inventory-updated actions logged per correlation id.
	updated map[string][]time.Time
}

func newArrivals() *arrivals {
	return &arrivals{notified: map[string]time.Time{}, updated: map[string][]time.Time{}}
}

// notificationLine takes a line of notification-service's log.
func (a *arrivals) notificationLine(b []byte) {
	if !bytes.Contains(b, []byte(kindOrderApproved)) {
		return // most lines: no need to decode them
	}
	l, ok := parseLogLine(b)
	if !ok || l.Kind != kindOrderApproved || l.OrderID == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if _, seen := a.notified[l.OrderID]; !seen {
		a.notified[l.OrderID] = l.Time
	}
}

// loggingLine takes a line of logging-service's log.
func (a *arrivals) loggingLine(b []byte) {
	if !bytes.Contains(b, []byte(contracts.ActionInventoryUpdated)) {
		return
	}
	l, ok := parseLogLine(b)
	if !ok || l.ServiceName != contracts.ServiceInventory || l.Action != contracts.ActionInventoryUpdated || l.CorrelationID == "" {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.updated[l.CorrelationID] = append(a.updated[l.CorrelationID], l.Time)
}

// notifiedAt returns when the order was first congratulated.
func (a *arrivals) notifiedAt(orderID string) (time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	t, ok := a.notified[orderID]
	return t, ok
}

// updatedAt returns when the lines-th inventory-updated action of the
// correlation id was logged: when all of an order's lines had been.
func (a *arrivals) updatedAt(correlationID string, lines int) (time.Time, bool) {
	a.mu.Lock()
	ts := slices.Clone(a.updated[correlationID])
	a.mu.Unlock()
	if lines < 1 || len(ts) < lines {
		return time.Time{}, false
	}
	slices.SortFunc(ts, time.Time.Compare)
	return ts[lines-1], true
}

// counts returns how many orders were congratulated and how many
// correlation ids have at least lines inventory-updated actions logged.
func (a *arrivals) counts(lines int) (notified, updated int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ts := range a.updated {
		if len(ts) >= lines {
			updated++
		}
	}
	return len(a.notified), updated
}
