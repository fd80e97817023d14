// Command inventory-service keeps the shop's stock. It splits every order
// on new-order-topic into one reservation per line, applies each line once to
// its product's stock with the tutorial's rule (see packages inventory and
// pipeline), publishes inventory-empty events and logging actions, and
// serves every product's stock at GET /stock (see package httpapi).
// Instances in one consumer group share the products: each has one owner.
package main

import (
	"context"
	"io"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/services/inventory-service/internal/httpapi"
	"github.com/eventshop/eventshop/services/inventory-service/internal/pipeline"
)

const name = contracts.ServiceInventory

func main() { service.Main(name, run) }

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg := defaultConfig()
	log, err := service.Setup(name, args, out, &cfg)
	if err != nil {
		return err
	}
	levels := cfg.stock // parsed by Validate, which Setup ran

	app, err := service.New(ctx, name, cfg.Base, log)
	if err != nil {
		return err
	}
	reader, err := app.Reader()
	if err != nil {
		return err
	}
	set := pipeline.Settings{
		Group:   cfg.ConsumerGroup,
		Topics:  pipeline.TopicsFor(cfg.ConsumerGroup),
		Initial: levels,
		Policy:  cfg.policy(),
		Orders:  cfg.orderBounds(),
	}
	pipe := pipeline.New(set, app.Events, reader, app.DeadLetters(cfg.ConsumerGroup), app.Log)
	if err := app.EnsureTopics(ctx, pipe.TopicSpecs(app.TopicSpec)...); err != nil {
		return err
	}
	pinCtx, cancel := context.WithTimeout(ctx, cfg.KafkaStartupTimeout)
	defer cancel()
	if err := pipe.Pin(pinCtx); err != nil {
		return err
	}
	// Each batch of orders or reservations is one transaction with its
	// input offsets: see package pipeline.
	gc := app.GroupConfig(cfg.ConsumerGroup, pipe.Topics())
	gc.TransactionalID = cfg.ConsumerGroup
	// What the inventory does is its records, committed with its offsets;
	// its log lines are for people, not flushed before each transaction.
	gc.BeforeCommit = nil
	gc.OffsetMetadata = pipe.OffsetMetadata()
	if err := app.ConsumeBatch(gc, pipe.Open); err != nil {
		return err
	}
	view := pipeline.NewView(levels)
	if err := app.Metrics().Register(newStockCollector(view)); err != nil {
		return err
	}
	app.Go(func(ctx context.Context) error { return view.Follow(ctx, reader, set.Topics.Stock, app.Log) })
	httpapi.Register(app, view)

	return app.Run(ctx)
}
