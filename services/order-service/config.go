package main

import (
	"errors"
	"time"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/pkg/httpserver"
	"github.com/eventshop/eventshop/pkg/service"
)

// Config is the order service's configuration: the shared keys plus its own.
type Config struct {
	service.Base
	SimulatorInterval time.Duration `config:"simulator_interval" help:"time between simulated sample orders, the first placed at start; 0 turns the simulator off"`
	PublishTimeout    time.Duration `config:"publish_timeout" help:"how long placing an order waits for Kafka to acknowledge it before giving up (HTTP 503)"`
}

// defaultConfig returns the defaults: the API on :8000 and, as in the
// tutorial, a sample order every 5 seconds.
func defaultConfig() Config {
	return Config{
		Base:              service.DefaultBase(":8000"),
		SimulatorInterval: 5 * time.Second,
		PublishTimeout:    10 * time.Second,
	}
}

// Validate reports every invalid setting, each naming its key.
func (c *Config) Validate() error {
	errs := []error{c.Base.Validate()}
	if c.SimulatorInterval < 0 {
		errs = append(errs, config.Errorf("simulator_interval", "must not be negative (0 turns the simulator off), got %s", c.SimulatorInterval))
	}
	// A POST waits for Kafka within the HTTP server's write timeout, or the
	// client would see its connection cut instead of a 503.
	if limit := httpserver.DefaultLimits().WriteTimeout; c.PublishTimeout <= 0 || c.PublishTimeout >= limit {
		errs = append(errs, config.Errorf("publish_timeout", "must be positive and less than the HTTP write timeout, %s, got %s",
			limit, c.PublishTimeout))
	}
	return errors.Join(errs...)
}
