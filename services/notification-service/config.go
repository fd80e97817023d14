package main

import (
	"errors"
	"maps"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/pkg/dedupe"
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
	Notifier     string        `config:"notifier" help:"how notifications are sent: log (write them to the service log)"`
	DedupeWindow time.Duration `config:"dedupe_window" help:"how long an id is remembered: the same order approved again within it is congratulated once, the same inventory-empty event delivered again is notified once"`
	DedupeLimit  int           `config:"dedupe_limit" help:"the most order ids, and apart the most event ids, remembered (about 170 bytes each); beyond it the oldest are forgotten before dedupe_window has passed"`
}

func defaultConfig() Config {
	return Config{
		Base:           service.DefaultBase(":8002"),
		ConsumerConfig: service.ConsumerConfig{ConsumerGroup: "notification-service-group"},
		Notifier:       "log",
		DedupeWindow:   time.Hour,
		DedupeLimit:    100_000,
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
	if c.DedupeWindow <= 0 {
		errs = append(errs, config.Errorf("dedupe_window", "must be positive, got %s", c.DedupeWindow))
	}
	if c.DedupeLimit < 1 {
		errs = append(errs, config.Errorf("dedupe_limit", "must be at least 1, got %d", c.DedupeLimit))
	}
	return errors.Join(errs...)
}

// dedupe returns the bounds of what the service remembers to drop repeats.
func (c *Config) dedupe() dedupe.Bounds {
	return dedupe.Bounds{Window: c.DedupeWindow, Limit: c.DedupeLimit}
}
