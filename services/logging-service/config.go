package main

import (
	"errors"

	"github.com/eventshop/eventshop/pkg/service"
)

// Config is the logging service's configuration.
type Config struct {
	service.Base
	service.ConsumerConfig
	service.DedupeConfig // bounds the event ids of the actions recorded
}

func defaultConfig() Config {
	return Config{
		Base:           service.DefaultBase(":8003"),
		ConsumerConfig: service.ConsumerConfig{ConsumerGroup: "logging-service-group"},
		DedupeConfig:   service.DefaultDedupeConfig(),
	}
}

// Validate reports every invalid setting, each naming its key.
func (c *Config) Validate() error {
	return errors.Join(c.Base.Validate(), c.ConsumerConfig.Validate(), c.DedupeConfig.Validate())
}
