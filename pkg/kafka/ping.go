package kafka

import (
	"context"
	"fmt"

	"github.com/IBM/sarama"
)

// Pinger checks that the cluster answers, for readiness probes. It keeps one
// client open so that a probe is a metadata request, not a new connection.
type Pinger struct {
	client sarama.Client
}

// NewPinger connects to the cluster described by cfg.
func NewPinger(cfg Config) (*Pinger, error) {
	sc, err := cfg.sarama()
	if err != nil {
		return nil, err
	}
	sc.Metadata.Retry.Max = 0
	client, err := sarama.NewClient(cfg.Brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka: connect: %w", err)
	}
	return &Pinger{client: client}, nil
}

// Ping refreshes cluster metadata and reports whether it names any broker.
func (p *Pinger) Ping(ctx context.Context) error {
	done := make(chan error, 1)
	go func() {
		if err := p.client.RefreshMetadata(); err != nil {
			done <- fmt.Errorf("kafka: metadata: %w", err)
			return
		}
		if len(p.client.Brokers()) == 0 {
			done <- fmt.Errorf("kafka: no brokers in metadata")
			return
		}
		done <- nil
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("kafka: ping: %w", ctx.Err())
	}
}

// Close disconnects.
func (p *Pinger) Close() error { return p.client.Close() }
