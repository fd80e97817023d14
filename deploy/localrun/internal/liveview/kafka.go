package liveview

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// cluster reads the broker with admin requests and follows the flow topics
// with group-less partition consumers, which commit nothing and so never
// show up among the consumer groups they watch.
type cluster struct {
	brokers []string
	flow    []string
	store   *store

	client   sarama.Client
	admin    sarama.ClusterAdmin
	consumer sarama.Consumer
	// following holds the partitions a consumer reads, by topic.
	following map[string]map[int32]bool
	readers   []sarama.PartitionConsumer
	wg        sync.WaitGroup
}

// topicState is one topic as the broker describes it.
type topicState struct {
	name string
	ends []partitionEnd
}

// partitionEnd is a partition and its end offset.
type partitionEnd struct {
	ID  int32
	End int64
}

// groupState is one consumer group: its members, what each owns, and its
// committed offsets by topic and partition.
type groupState struct {
	name, state string
	members     []member
	committed   map[string]map[int32]int64
}

type member struct {
	id, client, host string
	owns             map[string][]int32
}

// connect opens the client, once the broker answers.
func (c *cluster) connect() error {
	if c.client != nil {
		return nil
	}
	sc := sarama.NewConfig()
	sc.ClientID = "liveview"
	v, err := kafka.ParseVersion(kafka.DefaultVersion)
	if err != nil {
		return err
	}
	sc.Version = v
	sc.Net.DialTimeout = 2 * time.Second
	sc.Metadata.Retry.Max = 1
	// The inventory writes in transactions: show what its readers see.
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.MaxWaitTime = 250 * time.Millisecond
	client, err := sarama.NewClient(c.brokers, sc)
	if err != nil {
		return fmt.Errorf("connect to Kafka at %s: %w", strings.Join(c.brokers, ","), err)
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		client.Close()
		return fmt.Errorf("kafka admin: %w", err)
	}
	// The readers have a client, and so a connection, of their own: a
	// broker answers a connection's requests in order, and the admin
	// requests would otherwise wait behind each fetch waiting for records.
	consumer, err := sarama.NewConsumer(c.brokers, sc)
	if err != nil {
		admin.Close()
		return fmt.Errorf("kafka consumer: %w", err)
	}
	c.client, c.admin, c.consumer = client, admin, consumer
	c.following = map[string]map[int32]bool{}
	return nil
}

// close stops the partition consumers and disconnects.
func (c *cluster) close() {
	if c.client == nil {
		return
	}
	for _, pc := range c.readers {
		pc.AsyncClose()
	}
	c.wg.Wait()
	c.consumer.Close() // and its client
	c.admin.Close()    // and the client it was made from
}

// topics lists every topic but the broker's own (__consumer_offsets ...)
// with the end offset of each partition.
func (c *cluster) topics() ([]topicState, error) {
	details, err := c.admin.ListTopics()
	if err != nil {
		return nil, fmt.Errorf("list topics: %w", err)
	}
	var out []topicState
	for name, d := range details {
		if strings.HasPrefix(name, "__") {
			continue
		}
		t := topicState{name: name}
		for p := range d.NumPartitions {
			end, err := c.client.GetOffset(name, p, sarama.OffsetNewest)
			if err != nil {
				return nil, fmt.Errorf("end offset of %s/%d: %w", name, p, err)
			}
			t.ends = append(t.ends, partitionEnd{ID: p, End: end})
		}
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b topicState) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// groups describes every consumer group.
func (c *cluster) groups() ([]groupState, error) {
	names, err := c.admin.ListConsumerGroups()
	if err != nil {
		return nil, fmt.Errorf("list consumer groups: %w", err)
	}
	if len(names) == 0 {
		return nil, nil
	}
	descs, err := c.admin.DescribeConsumerGroups(sortedKeys(names))
	if err != nil {
		return nil, fmt.Errorf("describe consumer groups: %w", err)
	}
	var out []groupState
	for _, d := range descs {
		g := groupState{name: d.GroupId, state: d.State, committed: map[string]map[int32]int64{}}
		for id, m := range d.Members {
			mem := member{id: id, client: m.ClientId, host: m.ClientHost, owns: map[string][]int32{}}
			if a, err := m.GetMemberAssignment(); err == nil && a != nil {
				for topic, ps := range a.Topics {
					mem.owns[topic] = slices.Sorted(slices.Values(ps))
				}
			}
			g.members = append(g.members, mem)
		}
		slices.SortFunc(g.members, func(a, b member) int { return strings.Compare(a.id, b.id) })
		offsets, err := c.admin.ListConsumerGroupOffsets(d.GroupId, nil)
		if err != nil {
			return nil, fmt.Errorf("committed offsets of %s: %w", d.GroupId, err)
		}
		for topic, blocks := range offsets.Blocks {
			for p, b := range blocks {
				if b.Err != sarama.ErrNoError || b.Offset < 0 {
					continue
				}
				if g.committed[topic] == nil {
					g.committed[topic] = map[int32]int64{}
				}
				g.committed[topic][p] = b.Offset
			}
		}
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b groupState) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// follow starts a consumer on each partition of the flow topics not yet
// followed, from keep records before its end, so that the page shows the
// recent past too.
func (c *cluster) follow(topics []topicState, keep int64) error {
	for _, t := range topics {
		if !slices.Contains(c.flow, t.name) {
			continue
		}
		if c.following[t.name] == nil {
			c.following[t.name] = map[int32]bool{}
		}
		for _, pe := range t.ends {
			p := pe.ID
			if c.following[t.name][p] {
				continue
			}
			start := sarama.OffsetOldest
			if pe.End > keep {
				oldest, err := c.client.GetOffset(t.name, p, sarama.OffsetOldest)
				if err != nil {
					return fmt.Errorf("start offset of %s/%d: %w", t.name, p, err)
				}
				start = max(oldest, pe.End-keep)
			}
			pc, err := c.consumer.ConsumePartition(t.name, p, start)
			if err != nil {
				return fmt.Errorf("read %s/%d: %w", t.name, p, err)
			}
			c.following[t.name][p] = true
			c.readers = append(c.readers, pc)
			c.wg.Go(func() {
				for m := range pc.Messages() {
					c.store.add(eventOf(m))
				}
			})
		}
	}
	return nil
}

// eventOf keeps what the page shows of a record.
func eventOf(m *sarama.ConsumerMessage) event {
	e := event{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset, Key: string(m.Key), Value: string(m.Value), Time: m.Timestamp}
	for _, h := range m.Headers {
		switch string(h.Key) {
		case contracts.HeaderCorrelationID:
			e.Correlation = string(h.Value)
		case contracts.HeaderEventType:
			e.Type = string(h.Value)
		case contracts.HeaderSourceService:
			e.Source = string(h.Value)
		}
	}
	return e
}
