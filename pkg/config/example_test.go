package config_test

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/eventshop/eventshop/pkg/config"
)

// Kafka is a section every service shares; embedding it gives each service the
// same keys, env vars and flags for it.
type Kafka struct {
	Brokers []string `config:"kafka_brokers" help:"comma-separated Kafka bootstrap brokers"`
}

type OrderConfig struct {
	Kafka
	HTTPAddr string        `config:"http_addr" help:"HTTP listen address (host:port)"`
	Interval time.Duration `config:"simulator_interval" help:"time between simulated orders; 0 disables"`
	Password string        `config:"sasl_password" help:"SASL password" secret:"true"`
}

func (c *OrderConfig) Validate() error {
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		return config.Errorf("http_addr", "must be host:port, got %q", c.HTTPAddr)
	}
	if len(c.Brokers) == 0 {
		return config.Errorf("kafka_brokers", "at least one broker is required")
	}
	return nil
}

func ExampleLoad() {
	// The struct's values are the defaults.
	cfg := OrderConfig{
		Kafka:    Kafka{Brokers: []string{"localhost:9092"}},
		HTTPAddr: ":8080",
		Interval: 5 * time.Second,
	}
	// In main, args is os.Args[1:]; env vars and a --config file work too.
	args := []string{"--kafka-brokers=k1:9092,k2:9092", "--simulator-interval=2s", "--sasl-password=hunter2"}
	err := config.Load("order-service", args, &cfg)
	if errors.Is(err, config.ErrHelp) {
		return // usage was printed; exit 0
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range must(config.Fields(&cfg)) {
		fmt.Printf("%s=%v\n", f.Key, f.Value)
	}

	err = config.Load("order-service", []string{"--http-addr=8080"}, &cfg)
	fmt.Println(err)
	// Output:
	// kafka_brokers=[k1:9092 k2:9092]
	// http_addr=:8080
	// simulator_interval=2s
	// sasl_password=***
	// invalid configuration: http_addr (HTTP_ADDR): must be host:port, got "8080"
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
