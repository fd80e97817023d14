package main

import (
	"errors"
	"maps"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/pkg/service"
	"github.com/eventshop/eventshop/services/notification-service/internal/notify"
)

// notifiers builds each notifier the notifier key can name. Another way of
// sending (email, chat) is one more entry here.
var notifiers = map[string]func(*zap.Logger) notify.Notifier{
	"log": func(log *zap.Logger) notify.Notifier { return notify.NewLogNotifier(log) },
}

// Config is the notification service's configuration.
type Config struct {
	service.Base
	service.ConsumerConfig
	Notifier string `config:"notifier" help:"how notifications are sent: log (write them to the service log)"`
	// The order ids congratulated and, apart, the event ids of the refill
	// notices sent are remembered within these bounds.
	service.DedupeConfig
}

func defaultConfig() Config {
	return Config{
		Base:           service.DefaultBase(":8002"),
		ConsumerConfig: service.ConsumerConfig{ConsumerGroup: "notification-service-group"},
		Notifier:       "log",
		DedupeConfig:   service.DefaultDedupeConfig(),
	}
}

// Validate reports every invalid setting, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Base.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.ConsumerConfig.Validate(); err != nil {
		errs = append(errs, err)
	}
	if _, ok := notifiers[c.Notifier]; !ok {
		known := slices.Sorted(maps.Keys(notifiers))
		errs = append(errs, config.Errorf("notifier", "unknown notifier %q (want %s)", c.Notifier, strings.Join(known, ", ")))
	}
	if err := c.DedupeConfig.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
