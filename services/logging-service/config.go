package main

import (
	"errors"
	"time"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/pkg/dedupe"
	"github.com/eventshop/eventshop/pkg/service"
)

// Config is the logging service's configuration.
type Config struct {
	service.Base
	service.ConsumerConfig
	DedupeWindow time.Duration `config:"dedupe_window" help:"how long an action's event id is remembered: the same action delivered again within it is logged and counted once"`
	DedupeLimit  int           `config:"dedupe_limit" help:"the most event ids remembered (about 170 bytes each); beyond it the oldest are forgotten before dedupe_window has passed"`
}

func defaultConfig() Config {
	return Config{
		Base:           service.DefaultBase(":8003"),
		ConsumerConfig: service.ConsumerConfig{ConsumerGroup: "logging-service-group"},
		DedupeWindow:   time.Hour,
		DedupeLimit:    100_000,
	}
}

// Validate reports every invalid setting, each naming its key.
func (c *Config) Validate() error {
	errs := []error{c.Base.Validate(), c.ConsumerConfig.Validate()}
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
