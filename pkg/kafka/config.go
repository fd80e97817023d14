package kafka

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/rcrowley/go-metrics"
	"go.opentelemetry.io/otel/trace"
)

// DefaultVersion is the Kafka protocol version spoken unless configured
// otherwise. Kafka 4.0 removed the protocol versions older clients relied on, and
// sarama negotiates down from this with brokers that answer ApiVersions.
const DefaultVersion = "4.0.0"

// minVersion is the oldest broker we accept: idempotent producers with
// acks=all and the consumer-group APIs we use are all solid from 2.1 on.
var minVersion = sarama.V2_1_0_0

// Config is what every client of the cluster needs. The zero value is not
// usable; start from DefaultConfig.
type Config struct {
	// Brokers are the bootstrap addresses, host:port.
	Brokers []string
	// ClientID names this process in broker logs and quotas.
	ClientID string
	// Version is the Kafka protocol version, for example "4.0.0".
	Version string
	// DialTimeout bounds establishing a connection to a broker.
	DialTimeout time.Duration
	// RequestTimeout bounds one request/response round trip (read and write).
	RequestTimeout time.Duration
	// Metrics, if set, counts what the producers and consumers made with
	// this Config do (see NewMetrics).
	Metrics *Metrics
	// TracerProvider, if set, traces the records the producers made with
	// this Config send and the batches its consumers process, carrying the
	// W3C trace context in record headers; nil traces nothing.
	TracerProvider trace.TracerProvider
}

// DefaultConfig returns a Config for brokers with sensible timeouts.
func DefaultConfig(brokers ...string) Config {
	return Config{
		Brokers:        brokers,
		ClientID:       "eventshop",
		Version:        DefaultVersion,
		DialTimeout:    10 * time.Second,
		RequestTimeout: 30 * time.Second,
	}
}

// Validate reports every problem with c, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("brokers: at least one broker address is required"))
	}
	for _, b := range c.Brokers {
		if err := CheckBroker(b); err != nil {
			errs = append(errs, fmt.Errorf("brokers: %w", err))
		}
	}
	if strings.TrimSpace(c.ClientID) == "" {
		errs = append(errs, errors.New("client id: must not be empty"))
	}
	if _, err := ParseVersion(c.Version); err != nil {
		errs = append(errs, fmt.Errorf("version: %w", err))
	}
	if c.DialTimeout <= 0 {
		errs = append(errs, fmt.Errorf("dial timeout: must be positive, got %s", c.DialTimeout))
	}
	if c.RequestTimeout <= 0 {
		errs = append(errs, fmt.Errorf("request timeout: must be positive, got %s", c.RequestTimeout))
	}
	return errors.Join(errs...)
}

// CheckBroker reports whether addr is a broker address: host:port, with both.
func CheckBroker(addr string) error {
	if host, port, err := net.SplitHostPort(addr); err != nil || host == "" || port == "" {
		return fmt.Errorf("%q is not host:port", addr)
	}
	return nil
}

// ParseVersion parses a Kafka protocol version such as "4.0.0", refusing one
// older than 2.1.0, the oldest this package supports.
func ParseVersion(s string) (sarama.KafkaVersion, error) {
	v, err := sarama.ParseKafkaVersion(s)
	if err != nil {
		return v, fmt.Errorf("%q is not a Kafka version such as %s", s, DefaultVersion)
	}
	if !v.IsAtLeast(minVersion) {
		return v, fmt.Errorf("%s is older than the oldest supported, %s", s, minVersion)
	}
	return v, nil
}

// sarama records histograms and meters of every request in go-metrics'
// registries, which nothing here reads: that cost CPU on every produce and
// fetch, and memory per broker. go-metrics is switched off by a package
// variable, read when a registry is made, so it is set before any client
// exists.
func init() { metrics.UseNilMetrics = true }

// sarama builds the sarama configuration shared by producers, consumers and
// admin clients; each caller then adjusts its own section.
func (c Config) sarama() (*sarama.Config, error) {
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("kafka config: %w", err)
	}
	v, _ := ParseVersion(c.Version)
	sc := sarama.NewConfig()
	sc.ClientID = c.ClientID
	sc.Version = v
	sc.Net.DialTimeout = c.DialTimeout
	sc.Net.ReadTimeout = c.RequestTimeout
	sc.Net.WriteTimeout = c.RequestTimeout
	sc.Metadata.Retry.Max = 5
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	return sc, nil
}
