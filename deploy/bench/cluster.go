package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/pkg/kafka"
)

// offsets holds one offset per partition of each topic.
type offsets map[string]map[int32]int64

// cluster is the harness's own client of the Kafka cluster under test. It
// reads high watermarks and consumer groups through sarama's ClusterAdmin,
// and records, read committed as the shop's consumers read them, through
// pkg/kafka's Reader.
type cluster struct {
	client sarama.Client
	admin  sarama.ClusterAdmin
	reader *kafka.Reader
}

// dialCluster connects to the cluster that brokers bootstrap.
func dialCluster(brokers []string) (*cluster, error) {
	sc := sarama.NewConfig()
	sc.ClientID = "eventshop-bench"
	v, err := sarama.ParseKafkaVersion(kafka.DefaultVersion)
	if err != nil {
		return nil, fmt.Errorf("kafka version %s: %w", kafka.DefaultVersion, err)
	}
	sc.Version = v
	sc.Net.DialTimeout = 10 * time.Second
	sc.Net.ReadTimeout = 30 * time.Second
	sc.Net.WriteTimeout = 30 * time.Second
	sc.Metadata.Retry.Max = 5
	sc.Metadata.Retry.Backoff = 250 * time.Millisecond
	// A new cluster creates its group coordinators (__consumer_offsets) on
	// the first group request and answers NOT_COORDINATOR until they are
	// loaded, for some seconds: retry group requests for up to 15 s.
	sc.Admin.Retry.Max = 60
	sc.Admin.Retry.Backoff = 250 * time.Millisecond
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("connect to kafka at %v: %w", brokers, err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("kafka admin client: %w", err)
	}
	cfg := kafka.DefaultConfig(brokers...)
	cfg.ClientID = "eventshop-bench"
	reader, err := kafka.NewReader(cfg)
	if err != nil {
		admin.Close()
		return nil, err
	}
	return &cluster{client: client, admin: admin, reader: reader}, nil
}

// close disconnects; the admin client closes the client it was built on.
func (c *cluster) close() error { return errors.Join(c.reader.Close(), c.admin.Close()) }

// topics returns the names of the cluster's topics, Kafka's internal ones
// (__consumer_offsets ...) left out.
func (c *cluster) topics() ([]string, error) {
	if err := c.client.RefreshMetadata(); err != nil {
		return nil, fmt.Errorf("refresh metadata: %w", err)
	}
	all, err := c.client.Topics()
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var names []string
	for _, t := range all {
		if !strings.HasPrefix(t, "__") {
			names = append(names, t)
		}
	}
	return names, nil
}

// endOffsets returns the high watermark of every partition of topics: the
// offset the next record written there will get. A fresh Apache Kafka
// answers with NOT_LEADER for a while after its topics are created, so that
// and its kin are tried again, for up to ten seconds.
func (c *cluster) endOffsets(topics []string) (offsets, error) {
	deadline := time.Now().Add(10 * time.Second)
	for {
		ends, err := c.tryEndOffsets(topics)
		if err == nil || !leaderMoving(err) || time.Now().After(deadline) {
			return ends, err
		}
		time.Sleep(200 * time.Millisecond)
		_ = c.client.RefreshMetadata(topics...)
	}
}

// leaderMoving reports the errors of a partition whose leader is not known
// or not settled yet.
func leaderMoving(err error) bool {
	return errors.Is(err, sarama.ErrNotLeaderForPartition) || errors.Is(err, sarama.ErrLeaderNotAvailable) ||
		errors.Is(err, sarama.ErrUnknownTopicOrPartition)
}

func (c *cluster) tryEndOffsets(topics []string) (offsets, error) {
	query := make(map[string]map[int32]int64, len(topics))
	for _, t := range topics {
		parts, err := c.client.Partitions(t)
		if err != nil {
			return nil, fmt.Errorf("partitions of %s: %w", t, err)
		}
		query[t] = make(map[int32]int64, len(parts))
		for _, p := range parts {
			query[t][p] = sarama.OffsetNewest
		}
	}
	if len(query) == 0 {
		return offsets{}, nil
	}
	res, err := c.admin.ListOffsets(query, nil)
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %v: %w", topics, err)
	}
	ends := make(offsets, len(res))
	for t, parts := range res {
		ends[t] = make(map[int32]int64, len(parts))
		for p, r := range parts {
			if failed(r.Err) {
				return nil, fmt.Errorf("end offset of %s/%d: %w", t, p, r.Err)
			}
			ends[t][p] = r.Offset
		}
	}
	return ends, nil
}

// failed reports whether err, as sarama returns them per partition, is an
// error: sarama may hand back ErrNoError rather than nil.
func failed(err error) bool { return err != nil && !errors.Is(err, sarama.ErrNoError) }

// startGroupsAt commits at for each group before any of its members exists,
// so that a fresh group begins where the benchmark began rather than at the
// beginning of topics that may hold other runs' records.
func (c *cluster) startGroupsAt(groups []string, at offsets) error {
	commit := make(map[string]map[int32]sarama.OffsetAndMetadata, len(at))
	for t, parts := range at {
		commit[t] = make(map[int32]sarama.OffsetAndMetadata, len(parts))
		for p, off := range parts {
			commit[t][p] = sarama.OffsetAndMetadata{Offset: off, LeaderEpoch: -1}
		}
	}
	if len(commit) == 0 {
		return nil
	}
	for _, g := range groups {
		// A coordinator that has just been created loads its offsets for a
		// while, and says so per partition, where sarama does not retry.
		deadline := time.Now().Add(30 * time.Second)
		for {
			err := c.commitGroup(g, commit)
			if err == nil {
				break
			}
			if !coordinatorLoading(err) || time.Now().After(deadline) {
				return err
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return nil
}

func (c *cluster) commitGroup(g string, commit map[string]map[int32]sarama.OffsetAndMetadata) error {
	resp, err := c.admin.AlterConsumerGroupOffsets(g, commit, nil)
	if err != nil {
		return fmt.Errorf("commit start offsets of group %s: %w", g, err)
	}
	for t, parts := range resp.Errors {
		for p, kerr := range parts {
			if failed(kerr) {
				return fmt.Errorf("commit start offset of group %s on %s/%d: %w", g, t, p, kerr)
			}
		}
	}
	return nil
}

// coordinatorLoading reports the errors of a group coordinator that is not
// ready yet.
func coordinatorLoading(err error) bool {
	return errors.Is(err, sarama.ErrOffsetsLoadInProgress) || errors.Is(err, sarama.ErrNotCoordinatorForConsumer) ||
		errors.Is(err, sarama.ErrConsumerCoordinatorNotAvailable)
}

// groupProgress is how far the consumer groups of one service have come.
type groupProgress struct {
	// groups are the ids of the groups found, members their members.
	groups  []string
	members int
	// topics are the topics the members subscribe to.
	topics []string
	// lag is how many records of those topics the groups have not committed:
	// the sum over every partition of its high watermark minus the group's
	// committed offset.
	lag int64
}

// caughtUp reports whether every group found has members and has committed
// to the end of every partition it consumes.
func (g groupProgress) caughtUp() bool {
	return len(g.groups) > 0 && g.members > 0 && len(g.topics) > 0 && g.lag == 0
}

// progress finds the consumer groups whose ids start with prefix, the topics
// their members subscribe to, and how many records of them they have yet to
// commit. Nothing about the service is assumed: a group or a topic the
// service adds later (an internal topic, say) counts as soon as it exists.
func (c *cluster) progress(prefix string) (groupProgress, error) {
	all, err := c.admin.ListConsumerGroups()
	if err != nil {
		return groupProgress{}, fmt.Errorf("list consumer groups: %w", err)
	}
	var prog groupProgress
	for id := range all {
		if strings.HasPrefix(id, prefix) {
			prog.groups = append(prog.groups, id)
		}
	}
	if len(prog.groups) == 0 {
		return prog, nil
	}
	slices.Sort(prog.groups)
	descs, err := c.admin.DescribeConsumerGroups(prog.groups)
	if err != nil {
		return prog, fmt.Errorf("describe consumer groups %v: %w", prog.groups, err)
	}
	topics := map[string]bool{}
	for _, d := range descs {
		prog.members += len(d.Members)
		for _, t := range subscriptions(d) {
			topics[t] = true
		}
		lag, err := c.groupLag(d.GroupId, subscriptions(d))
		if err != nil {
			return prog, err
		}
		prog.lag += lag
	}
	prog.topics = slices.Sorted(maps.Keys(topics))
	return prog, nil
}

// subscriptions returns the topics the members of a group subscribe to or
// are assigned.
func subscriptions(d *sarama.GroupDescription) []string {
	topics := map[string]bool{}
	for _, m := range d.Members {
		if meta, err := m.GetMemberMetadata(); err == nil && meta != nil {
			for _, t := range meta.Topics {
				topics[t] = true
			}
		}
		if a, err := m.GetMemberAssignment(); err == nil && a != nil {
			for t := range a.Topics {
				topics[t] = true
			}
		}
	}
	return slices.Sorted(maps.Keys(topics))
}

// groupLag returns how many records of topics group has not committed. A
// partition without a committed offset counts from 0: the group has read
// nothing there, and the topics' earlier records were committed at the start.
// Only records count: a read-committed consumer is never given the
// transaction markers and aborted records between its offset and the end
// (see pendingRecords).
func (c *cluster) groupLag(group string, topics []string) (int64, error) {
	if len(topics) == 0 {
		return 0, nil
	}
	ends, err := c.endOffsets(topics)
	if err != nil {
		return 0, err
	}
	query := make(map[string][]int32, len(ends))
	for t, parts := range ends {
		query[t] = slices.Sorted(maps.Keys(parts))
	}
	resp, err := c.admin.ListConsumerGroupOffsets(group, query)
	if err != nil {
		return 0, fmt.Errorf("committed offsets of group %s: %w", group, err)
	}
	var lag int64
	for t, parts := range ends {
		for p, end := range parts {
			committed := int64(0)
			if b := resp.GetBlock(t, p); b != nil && b.Offset >= 0 {
				committed = b.Offset
			}
			if end > committed {
				lag += c.pendingRecords(t, p, committed, end)
			}
		}
	}
	return lag, nil
}

// pendingRecords returns how many committed records partition p of topic
// holds from offset from up to end: none when all that is left there is
// transaction markers and aborted records. While a transaction below end is
// open it cannot tell, and counts every offset as one.
func (c *cluster) pendingRecords(topic string, p int32, from, end int64) int64 {
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	n, err := c.reader.ReadRange(ctx, topic, p, from, end, func(*kafka.Message) error { return nil })
	if err != nil {
		return end - from
	}
	return int64(n)
}

// scan passes every committed record of topic from from[p] up to, not
// including, to[p] on each partition p to fn, and returns within timeout. A
// partition missing from from is read from offset 0.
func (c *cluster) scan(ctx context.Context, topic string, from, to map[int32]int64, timeout time.Duration, fn func(*kafka.Message)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for _, p := range slices.Sorted(maps.Keys(to)) {
		if from[p] >= to[p] {
			continue
		}
		_, err := c.reader.ReadRange(ctx, topic, p, from[p], to[p], func(m *kafka.Message) error { fn(m); return nil })
		if err != nil {
			return fmt.Errorf("read %s/%d up to offset %d: %w", topic, p, to[p], err)
		}
	}
	return nil
}
