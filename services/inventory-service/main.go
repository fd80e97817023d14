// Command inventory-service keeps the shop's stock. It applies every order
// on new-order-topic with the tutorial's rule (see package inventory),
// publishes inventory-empty events and logging actions, and serves the
// current stock at GET /stock (see package httpapi).
package main

import (
	"context"
	"io"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/services/inventory-service/internal/httpapi"
	"github.com/eventshop/eventshop/services/inventory-service/internal/inventory"
)

const name = contracts.ServiceInventory

func main() { service.Main(name, run) }

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg := defaultConfig()
	log, err := service.Setup(name, args, out, &cfg)
	if err != nil {
		return err
	}

	levels, err := cfg.stockLevels()
	if err != nil {
		return err
	}
	stock, err := inventory.NewStock(levels, cfg.policy())
	if err != nil {
		return err
	}

	app, err := service.New(ctx, name, cfg.Base, log)
	if err != nil {
		return err
	}
	orders := inventory.NewService(stock, app.Events, app.Log)
	err = app.Consume(cfg.ConsumerGroup, []string{contracts.TopicNewOrder},
		eventbus.Handle(contracts.DecodeOrder, orders.ApplyOrder))
	if err != nil {
		return err
	}
	httpapi.Register(app, stock)

	return app.Run(ctx)
}
