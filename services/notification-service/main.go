// Command notification-service tells customers that their orders were
// approved and the staff that a product has to be refilled. It consumes
// new-order-topic and inventory-empty-topic and sends through a notifier,
// today the service log: once per order id, and once per inventory-empty
// event, within dedupe_window.
package main

import (
	"context"
	"io"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/eventbus"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/services/notification-service/internal/notify"
)

const name = contracts.ServiceNotification

func main() { service.Main(name, run) }

func run(ctx context.Context, args []string, out io.Writer) error {
	cfg := defaultConfig()
	log, err := service.Setup(name, args, out, &cfg)
	if err != nil {
		return err
	}
	notifier := notify.NewLogNotifier(log) // the one notifier Validate accepts

	app, err := service.New(ctx, name, cfg.Base, log)
	if err != nil {
		return err
	}
	notifications := notify.NewService(notifier, cfg.DedupeBounds(), log)
	if err := registerMetrics(app.Metrics(), notifications); err != nil {
		return err
	}
	if err := consume(app, cfg.ConsumerGroup, notifications); err != nil {
		return err
	}
	return app.Run(ctx)
}

// consume subscribes the notification use cases to their topics, in one
// consumer group as the tutorial has it.
func consume(app *service.App, group string, s *notify.Service) error {
	topics := []string{contracts.TopicNewOrder, contracts.TopicInventoryEmpty}
	return app.Consume(group, topics, eventbus.Route(map[string]kafka.Handler{
		contracts.TopicNewOrder:       eventbus.Handle(contracts.DecodeOrder, s.OrderApproved),
		contracts.TopicInventoryEmpty: eventbus.Handle(contracts.DecodeInventoryEmpty, s.RefillNeeded),
	}))
}
