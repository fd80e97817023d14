// Command order-service places orders: it takes them over HTTP (POST /orders)
// and, like the tutorial, simulates a shopper placing the sample order every
// few seconds. Each order goes to new-order-topic, with a new-order action on
// new-logging-action-topic. Run it with --help for its settings.
package main

import (
	"context"
	"io"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/services/order-service/internal/httpapi"
	"github.com/eventshop/eventshop/services/order-service/internal/orders"
)

const name = contracts.ServiceOrder

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

	placer := orders.NewService(app.Events, eventbus.NewID, cfg.PublishTimeout, log)
	if err := registerMetrics(app.Metrics(), placer); err != nil {
		return err
	}
	httpapi.Register(app, placer, log)
	app.Go(orders.NewSimulator(placer, cfg.SimulatorInterval, log).Run)

	return app.Run(ctx)
}
