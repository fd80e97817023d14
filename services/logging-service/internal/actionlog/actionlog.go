// Package actionlog keeps the shop's record of what its services did: every
// action reported on new-logging-action-topic is written to the log, as the
// tutorial's logging service prints it, and counted per service and action,
// once per event.
package actionlog

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"sync"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/dedupe"
	"github.com/eventshop/eventshop/pkg/logging"
)

// Count is how many times one service reported one action.
type Count struct {
	ServiceName string `json:"serviceName"`
	Action      string `json:"action"`
	Count       int    `json:"count"`
}

type countKey struct{ serviceName, action string }

// Recorder logs and counts actions. It is safe for concurrent use.
//
// Actions arrive at least once, so a Recorder logs and counts an action once
// per event id within the bounds it is given: the same record delivered
// again after a crash or a rebalance is dropped. Its memory is its own: a
// repeat that comes after the bounds, after a restart, or to another
// instance is counted again, so the counts may run high after a failure,
// never low. An action without an event id (from a producer that sets no
// headers, such as the tutorial's Node.js services) is always counted.
type Recorder struct {
	log  *zap.Logger
	seen *dedupe.Set // event ids of the actions recorded

	mu     sync.Mutex
	counts map[countKey]int
}

// NewRecorder returns a Recorder that writes each action to log at info
// level, and each repeat it drops at debug level, and remembers event ids
// within b.
func NewRecorder(log *zap.Logger, b dedupe.Bounds) *Recorder {
	return &Recorder{log: log, seen: dedupe.NewSet(b), counts: make(map[countKey]int)}
}

// Record logs a and counts it, unless the event, by its id in ctx
// (correlation.EventID), was recorded already. An invalid action is reported
// with an error matching contracts.ErrInvalid and is neither logged nor
// counted.
func (r *Recorder) Record(ctx context.Context, a contracts.LoggingAction) error {
	if err := a.Validate(); err != nil {
		return err
	}
	eventID := correlation.EventID(ctx)
	fields := []zap.Field{zap.String("service_name", a.ServiceName), zap.String("action", a.Action), logging.Trace(ctx)}
	if id := correlation.ID(ctx); id != "" {
		fields = append(fields, zap.String("correlation_id", id))
	}
	if eventID != "" {
		fields = append(fields, zap.String("event_id", eventID))
		if !r.seen.Add(eventID) {
			r.log.Debug("action recorded before, repeat dropped", fields...)
			return nil
		}
	}
	r.log.Info(fmt.Sprintf("Logging Service: serviceName: %s, action: %s", a.ServiceName, a.Action), fields...)

	r.mu.Lock()
	defer r.mu.Unlock()
	r.counts[countKey{a.ServiceName, a.Action}]++
	return nil
}

// Counts returns how often each service reported each action, ordered by
// service name and then action.
func (r *Recorder) Counts() []Count {
	r.mu.Lock()
	counts := make([]Count, 0, len(r.counts))
	for k, n := range r.counts {
		counts = append(counts, Count{ServiceName: k.serviceName, Action: k.action, Count: n})
	}
	r.mu.Unlock()

	slices.SortFunc(counts, func(a, b Count) int {
		return cmp.Or(cmp.Compare(a.ServiceName, b.ServiceName), cmp.Compare(a.Action, b.Action))
	})
	return counts
}
