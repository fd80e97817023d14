package main

import (
	"errors"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/pkg/service"
)

// logNotifier names the one way notifications are sent: to the service log.
// The notifier key accepts only it, and stays so that a configuration naming
// it keeps working.
const logNotifier = "log"

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
		Notifier:       logNotifier,
		DedupeConfig:   service.DefaultDedupeConfig(),
	}
}

// Validate reports every invalid setting, each naming its key.
func (c *Config) Validate() error {
	errs := []error{c.Base.Validate(), c.ConsumerConfig.Validate()}
	if c.Notifier != logNotifier {
		errs = append(errs, config.Errorf("notifier", "unknown notifier %q (want %s)", c.Notifier, logNotifier))
	}
	errs = append(errs, c.DedupeConfig.Validate())
	return errors.Join(errs...)
}
