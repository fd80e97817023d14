// Package actionlog keeps the shop's record of what its services did: every
// action reported on new-logging-action-topic is written to the log, as the
// tutorial's logging service prints it, and counted per service and action.
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
// Actions arrive at least once, so an action redelivered after a crash or a
// rebalance is logged and counted again; the counts are exact in steady
// operation and may run high after a failure, never low.
type Recorder struct {
	log *zap.Logger

	mu     sync.Mutex
	counts map[countKey]int
}

// NewRecorder returns a Recorder that writes each action to log at info
// level.
func NewRecorder(log *zap.Logger) *Recorder {
	return &Recorder{log: log, counts: make(map[countKey]int)}
}

// Record logs a and counts it. An invalid action is reported with an error
// matching contracts.ErrInvalid and is neither logged nor counted.
func (r *Recorder) Record(ctx context.Context, a contracts.LoggingAction) error {
	if err := a.Validate(); err != nil {
		return err
	}
	fields := []zap.Field{zap.String("service_name", a.ServiceName), zap.String("action", a.Action)}
	if id := correlation.ID(ctx); id != "" {
		fields = append(fields, zap.String("correlation_id", id))
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
