package main

import "github.com/eventshop/eventshop/pkg/service"

// Config is the logging service's configuration. It has no settings of its
// own, so the embedded Base's Validate checks all of it.
type Config struct {
	service.Base
}

func defaultConfig() Config {
	return Config{Base: service.DefaultBase(":8003")}
}
