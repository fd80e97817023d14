package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

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

// EnsureTopics creates the topics that do not exist yet, so every service
// can call it at start in any order. On a topic that exists it sets the
// Configs its spec names; a topic with fewer partitions than asked for is
// logged, not changed: adding partitions moves keys, which is an operator's
// decision.
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
	go func() {
		if err := ensureTopics(admin, log, specs); err != nil {
			done <- err
			return
		}
		done <- waitForLeaders(ctx, admin, specs)
	}()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return fmt.Errorf("kafka: ensure topics: %w", ctx.Err())
	}
}

// waitForLeaders returns once every partition of every topic has a leader.
// Apache Kafka answers CreateTopics before the new partitions have leaders
// and before every broker's metadata shows them; a producer or consumer that
// came right after would meet UNKNOWN_TOPIC_OR_PARTITION or NOT_LEADER.
func waitForLeaders(ctx context.Context, admin sarama.ClusterAdmin, specs []TopicSpec) error {
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	leaders := RetryPolicy{InitialBackoff: 50 * time.Millisecond, MaxBackoff: time.Second}
	err := leaders.Retry(ctx, func() error {
		pending, err := leaderless(admin, names)
		if err == nil && len(pending) > 0 {
			err = fmt.Errorf("no leader yet for %v", pending)
		}
		return err
	}, nil)
	if err != nil {
		return fmt.Errorf("kafka: topics not ready: %w (%w)", err, ctx.Err())
	}
	return nil
}

// leaderless returns the topics that are missing from the metadata or have a
// partition without a leader.
func leaderless(admin sarama.ClusterAdmin, names []string) ([]string, error) {
	metas, err := admin.DescribeTopics(names)
	if err != nil {
		return nil, fmt.Errorf("kafka: describe topics: %w", err)
	}
	var pending []string
	for _, m := range metas {
		ready := errors.Is(m.Err, sarama.ErrNoError) && len(m.Partitions) > 0
		for _, p := range m.Partitions {
			if !errors.Is(p.Err, sarama.ErrNoError) || p.Leader < 0 {
				ready = false
			}
		}
		if !ready {
			pending = append(pending, m.Name)
		}
	}
	return pending, nil
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
			if err := setConfigs(admin, spec); err != nil {
				return err
			}
		default:
			return fmt.Errorf("kafka: create topic %s: %w", spec.Name, err)
		}
	}
	return nil
}

// setConfigs sets spec's topic-level settings on a topic that exists, so
// that a setting changed since the topic was made (a retention that follows
// a configured window) takes effect. Settings spec does not name are left
// as they are.
func setConfigs(admin sarama.ClusterAdmin, spec TopicSpec) error {
	if len(spec.Configs) == 0 {
		return nil
	}
	entries := make(map[string]sarama.IncrementalAlterConfigsEntry, len(spec.Configs))
	for k, v := range spec.Configs {
		entries[k] = sarama.IncrementalAlterConfigsEntry{Operation: sarama.IncrementalAlterConfigsOperationSet, Value: &v}
	}
	if err := admin.IncrementalAlterConfig(sarama.TopicResource, spec.Name, entries, false); err != nil {
		return fmt.Errorf("kafka: set the configs of topic %s: %w", spec.Name, err)
	}
	return nil
}

func checkPartitions(admin sarama.ClusterAdmin, log *zap.Logger, spec TopicSpec) error {
	metas, err := admin.DescribeTopics([]string{spec.Name})
	if err != nil {
		return fmt.Errorf("kafka: describe topic %s: %w", spec.Name, err)
	}
	for _, m := range metas {
		if n := len(m.Partitions); n < int(spec.Partitions) {
			log.Warn("topic has fewer partitions than configured; leaving it as it is",
				zap.String("topic", spec.Name), zap.Int("partitions", n), zap.Int32("configured", spec.Partitions))
		}
	}
	return nil
}
