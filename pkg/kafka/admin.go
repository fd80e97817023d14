package kafka

import (
	"context"
	"errors"
	"fmt"

	"github.com/IBM/sarama"
	"go.uber.org/zap"
)

// TopicSpec describes a topic to ensure.
type TopicSpec struct {
	Name              string
	Partitions        int32
	ReplicationFactor int16
	// Configs are topic-level settings such as cleanup.policy=compact.
	Configs map[string]string
}

// EnsureTopics creates the topics that do not exist yet and leaves the others
// alone, so every service can call it at start in any order. A topic that
// exists with fewer partitions than asked for is logged, not changed:
// adding partitions moves keys, which is an operator's decision.
func EnsureTopics(ctx context.Context, cfg Config, log *zap.Logger, specs ...TopicSpec) error {
	sc, err := cfg.sarama()
	if err != nil {
		return err
	}
	admin, err := sarama.NewClusterAdmin(cfg.Brokers, sc)
	if err != nil {
		return fmt.Errorf("kafka: admin client: %w", err)
	}
	defer admin.Close()

	done := make(chan error, 1)
	go func() { done <- ensureTopics(admin, log, specs) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("kafka: ensure topics: %w", ctx.Err())
	}
}

func ensureTopics(admin sarama.ClusterAdmin, log *zap.Logger, specs []TopicSpec) error {
	for _, spec := range specs {
		if spec.Partitions <= 0 || spec.ReplicationFactor <= 0 {
			return fmt.Errorf("kafka: topic %s: partitions and replication factor must be positive", spec.Name)
		}
		detail := &sarama.TopicDetail{NumPartitions: spec.Partitions, ReplicationFactor: spec.ReplicationFactor}
		if len(spec.Configs) > 0 {
			detail.ConfigEntries = make(map[string]*string, len(spec.Configs))
			for k, v := range spec.Configs {
				detail.ConfigEntries[k] = &v
			}
		}
		err := admin.CreateTopic(spec.Name, detail, false)
		switch {
		case err == nil:
			log.Info("topic created", zap.String("topic", spec.Name),
				zap.Int32("partitions", spec.Partitions), zap.Int16("replication_factor", spec.ReplicationFactor))
		case errors.Is(err, sarama.ErrTopicAlreadyExists):
			if err := checkPartitions(admin, log, spec); err != nil {
				return err
			}
		default:
			return fmt.Errorf("kafka: create topic %s: %w", spec.Name, err)
		}
	}
	return nil
}

func checkPartitions(admin sarama.ClusterAdmin, log *zap.Logger, spec TopicSpec) error {
	metas, err := admin.DescribeTopics([]string{spec.Name})
	if err != nil {
		return fmt.Errorf("kafka: describe topic %s: %w", spec.Name, err)
	}
	for _, m := range metas {
		if n := int32(len(m.Partitions)); n < spec.Partitions {
			log.Warn("topic has fewer partitions than configured; leaving it as it is",
				zap.String("topic", spec.Name), zap.Int32("partitions", n), zap.Int32("configured", spec.Partitions))
		}
	}
	return nil
}
