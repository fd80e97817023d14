package notify

import (
	"context"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/logging"
)

// LogNotifier delivers notifications by writing them to a log: the text is
// the log message, so the output reads as the tutorial's does, and what the
// notification is about follows as fields.
type LogNotifier struct {
	log *zap.Logger
}

// NewLogNotifier returns a LogNotifier writing to log at info level.
func NewLogNotifier(log *zap.Logger) *LogNotifier {
	return &LogNotifier{log: log}
}

// Notify writes n to the log. It never fails.
func (l *LogNotifier) Notify(ctx context.Context, n Notification) error {
	fields := []zap.Field{zap.String("kind", string(n.Kind)), zap.String("recipient", n.Recipient)}
	for _, f := range []struct{ key, value string }{
		{"order_id", n.OrderID},
		{"customer_id", n.CustomerID},
		{"product_id", n.ProductID},
		{"correlation_id", correlation.ID(ctx)},
	} {
		if f.value != "" {
			fields = append(fields, zap.String(f.key, f.value))
		}
	}
	l.log.Info(n.Text, append(fields, logging.Trace(ctx))...)
	return nil
}
