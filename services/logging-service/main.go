// Command logging-service records what the shop's services report doing. It
// consumes new-logging-action-topic, writes each action to its log and serves
// the counts per service and action at GET /actions: an action delivered
// again, by its event id, is dropped within dedupe_window.
package main

import (
	"context"
	"io"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/services/logging-service/internal/actionlog"
	"github.com/eventshop/eventshop/services/logging-service/internal/httpapi"
)

const name = contracts.ServiceLogging

func main() { service.Main(name, run) }

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg := defaultConfig()
	log, err := service.Setup(name, args, out, &cfg)
	if err != nil {
		return err
	}
	app, err := service.New(ctx, name, cfg.Base, log)
	if err != nil {
		return err
	}

	if err := record(app, cfg.ConsumerGroup, actionlog.NewRecorder(log, cfg.DedupeBounds())); err != nil {
		return err
	}
	return app.Run(ctx)
}

// record has r record the actions of new-logging-action-topic, read in
// consumer group group, and serves its counts at GET /actions and as
// metrics.
func record(app *service.App, group string, r *actionlog.Recorder) error {
	httpapi.Register(app, r)
	if err := app.Metrics().Register(newActionsCollector(r)); err != nil {
		return err
	}
	return app.Consume(group, []string{contracts.TopicNewLoggingAction},
		eventbus.Handle(contracts.DecodeLoggingAction, r.Record))
}
