package service

import (
	"errors"
	"net"
	"strings"
	"time"

	"github.com/eventshop/eventshop/pkg/config"
	"github.com/eventshop/eventshop/pkg/dedupe"
	"github.com/eventshop/eventshop/pkg/kafka"
	"github.com/eventshop/eventshop/pkg/logging"
)

// Base is the part of the configuration every service has. Embed it in a
// service's own config struct: its keys, env vars and flags come along.
type Base struct {
	KafkaBrokers           []string      `config:"kafka_brokers" help:"comma-separated Kafka bootstrap brokers (host:port)"`
	KafkaVersion           string        `config:"kafka_version" help:"Kafka protocol version to speak (2.1.0 or newer)"`
	KafkaStartupTimeout    time.Duration `config:"kafka_startup_timeout" help:"how long to wait at start for Kafka to answer"`
	TopicPartitions        int           `config:"topic_partitions" help:"partitions of each topic created at start"`
	TopicReplicationFactor int           `config:"topic_replication_factor" help:"replication factor of each topic created at start"`
	DeadLetterTopic        string        `config:"dead_letter_topic" help:"topic for records that can never be processed"`
	HTTPAddr               string        `config:"http_addr" help:"HTTP listen address for the API and /healthz, /readyz"`
	LogLevel               string        `config:"log_level" help:"debug, info, warn or error"`
	LogFormat              string        `config:"log_format" help:"console (for people) or json (for machines)"`
	ShutdownTimeout        time.Duration `config:"shutdown_timeout" help:"how long a graceful stop may take"`
	Pprof                  bool          `config:"pprof" help:"serve Go's runtime profiles at /debug/pprof/ on the HTTP port"`
}

// maxTopicPartitions is the most partitions topic_partitions accepts.
const maxTopicPartitions = 10000

// DefaultBase returns the defaults shared by all services, listening on
// httpAddr.
func DefaultBase(httpAddr string) Base {
	return Base{
		KafkaBrokers:           []string{"localhost:29092"},
		KafkaVersion:           kafka.DefaultVersion,
		KafkaStartupTimeout:    60 * time.Second,
		TopicPartitions:        6,
		TopicReplicationFactor: 1,
		DeadLetterTopic:        kafka.DefaultDeadLetterTopic,
		HTTPAddr:               httpAddr,
		LogLevel:               "info",
		LogFormat:              logging.FormatConsole,
		ShutdownTimeout:        15 * time.Second,
	}
}

// BaseConfig returns b; through embedding it lets Setup reach the shared part
// of any service's config.
func (b *Base) BaseConfig() *Base { return b }

// Validate reports every invalid shared setting, each naming its key.
func (b *Base) Validate() error {
	var errs []error
	if len(b.KafkaBrokers) == 0 {
		errs = append(errs, config.Errorf("kafka_brokers", "at least one broker is required"))
	}
	for _, addr := range b.KafkaBrokers {
		if err := kafka.CheckBroker(addr); err != nil {
			errs = append(errs, config.Errorf("kafka_brokers", "%w", err))
		}
	}
	if _, err := kafka.ParseVersion(b.KafkaVersion); err != nil {
		errs = append(errs, config.Errorf("kafka_version", "%q is not a supported Kafka version (use 2.1.0 or newer, e.g. %s)",
			b.KafkaVersion, kafka.DefaultVersion))
	}
	if b.KafkaStartupTimeout <= 0 {
		errs = append(errs, config.Errorf("kafka_startup_timeout", "must be positive, got %s", b.KafkaStartupTimeout))
	}
	// The bound keeps the value inside Kafka's int32 (a larger one wrapped
	// around to a topic of 1 partition) and far above any useful count.
	if b.TopicPartitions < 1 || b.TopicPartitions > maxTopicPartitions {
		errs = append(errs, config.Errorf("topic_partitions", "must be between 1 and %d, got %d", maxTopicPartitions, b.TopicPartitions))
	}
	if b.TopicReplicationFactor < 1 || b.TopicReplicationFactor > 32767 {
		errs = append(errs, config.Errorf("topic_replication_factor", "must be between 1 and 32767, got %d", b.TopicReplicationFactor))
	}
	if strings.TrimSpace(b.DeadLetterTopic) == "" {
		errs = append(errs, config.Errorf("dead_letter_topic", "must not be empty"))
	}
	if _, _, err := net.SplitHostPort(b.HTTPAddr); err != nil {
		errs = append(errs, config.Errorf("http_addr", "must be host:port or :port, got %q", b.HTTPAddr))
	}
	if _, err := logging.ParseLevel(b.LogLevel); err != nil {
		errs = append(errs, config.Errorf("log_level", "%w", err))
	}
	if err := logging.ValidateFormat(b.LogFormat); err != nil {
		errs = append(errs, config.Errorf("log_format", "%w", err))
	}
	if b.ShutdownTimeout <= 0 {
		errs = append(errs, config.Errorf("shutdown_timeout", "must be positive, got %s", b.ShutdownTimeout))
	}
	return errors.Join(errs...)
}

// Kafka returns the client configuration for a service named clientID.
func (b *Base) Kafka(clientID string) kafka.Config {
	kc := kafka.DefaultConfig(b.KafkaBrokers...)
	kc.ClientID = clientID
	kc.Version = b.KafkaVersion
	return kc
}

// ConsumerConfig is the configuration of a service that consumes. Embed it
// beside Base; the service's own Validate then calls both Validate methods.
type ConsumerConfig struct {
	ConsumerGroup string `config:"consumer_group" help:"consumer group id: instances with the same id share the partitions"`
}

// Validate reports an empty group id.
func (c *ConsumerConfig) Validate() error {
	if strings.TrimSpace(c.ConsumerGroup) == "" {
		return config.Errorf("consumer_group", "must not be empty")
	}
	return nil
}

// DedupeConfig is the configuration of a service that drops the events it
// has handled already (see package dedupe). Embed it beside Base; the
// service's own Validate then calls its Validate too.
type DedupeConfig struct {
	DedupeWindow time.Duration `config:"dedupe_window" help:"how long an id is remembered: an event that comes again with the same id within it is handled once"`
	DedupeLimit  int           `config:"dedupe_limit" help:"the most ids of each kind remembered (about 170 bytes each); beyond it the oldest are forgotten before dedupe_window has passed"`
}

// DefaultDedupeConfig returns the defaults: ids are remembered for an hour,
// at most 100,000 of each kind.
func DefaultDedupeConfig() DedupeConfig {
	return DedupeConfig{DedupeWindow: time.Hour, DedupeLimit: 100_000}
}

// Validate reports a window that is not positive and a limit below 1, each
// naming its key.
func (c *DedupeConfig) Validate() error {
	var errs []error
	if c.DedupeWindow <= 0 {
		errs = append(errs, config.Errorf("dedupe_window", "must be positive, got %s", c.DedupeWindow))
	}
	if c.DedupeLimit < 1 {
		errs = append(errs, config.Errorf("dedupe_limit", "must be at least 1, got %d", c.DedupeLimit))
	}
	return errors.Join(errs...)
}

// DedupeBounds returns the bounds of what the service remembers to drop
// repeats.
func (c *DedupeConfig) DedupeBounds() dedupe.Bounds {
	return dedupe.Bounds{Window: c.DedupeWindow, Limit: c.DedupeLimit}
}
