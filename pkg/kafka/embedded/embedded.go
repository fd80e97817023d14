// Package embedded runs an in-process, Kafka-protocol cluster for development
// and tests, so that the whole system runs and is tested with nothing but Go.
//
// It is franz-go's kfake: a protocol-level stand-in that speaks the real wire
// protocol over TCP, so sarama, kafkajs, kcat or the Java client connect to
// it as to a broker. It keeps data in memory and is not Apache Kafka; the
// integration suites therefore also run against a real broker.
package embedded

import (
	"context"
	"fmt"
	"net"
	"strconv"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options configures Start. The zero value starts one broker on a free
// loopback port with no topics.
type Options struct {
	// Addr is host:port to listen on; port 0 picks a free one. Default
	// 127.0.0.1:0.
	Addr string
	// Topics are created at start with Partitions partitions each.
	Topics     []string
	Partitions int32
}

// Broker is a running embedded cluster of one broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
	port    *gate
}

// Start listens and serves until Close.
func Start(opts Options) (*Broker, error) {
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("embedded broker: address %q: invalid port", addr)
	}
	if host == "" {
		host = "127.0.0.1"
	}

	var gates []*gate
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		// kfake always asks for 127.0.0.1; honour the host we were given.
		// It listens through a gate, which Down and Up close and open.
		kfake.ListenFn(func(network, a string) (net.Listener, error) {
			_, p, _ := net.SplitHostPort(a)
			g, err := listenGate(network, net.JoinHostPort(host, p))
			gates = append(gates, g)
			return g, err
		}),
		// Topics are not created on a client's metadata request (kfake's
		// AllowAutoTopicCreation is not set), as on a careful production
		// cluster: services create what they use.
		kfake.DefaultNumPartitions(max(1, int(opts.Partitions))),
	}
	if len(opts.Topics) > 0 {
		kopts = append(kopts, kfake.SeedTopics(max(1, opts.Partitions), opts.Topics...))
	}
	c, err := kfake.NewCluster(kopts...)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: listen on %s: %w", addr, err)
	}
	if len(gates) != 1 {
		c.Close()
		return nil, fmt.Errorf("embedded broker: %d listeners, want 1", len(gates))
	}
	return &Broker{cluster: c, addr: c.ListenAddrs()[0], port: gates[0]}, nil
}

// Addr is the host:port clients bootstrap from.
func (b *Broker) Addr() string { return b.addr }

// Close stops serving and drops all data.
func (b *Broker) Close() { b.cluster.Close() }

// Down takes the broker off the network, as a stopped broker is: its port
// refuses connections and every open connection is cut. Its data, topics
// and committed offsets stay, as a restarted broker's do on disk; consumer
// group members time out as they would. Up brings it back.
func (b *Broker) Down() { b.port.down() }

// Up serves again on the same address after Down.
func (b *Broker) Up(ctx context.Context) error { return b.port.up(ctx) }

// Freeze makes the broker stop answering, as a broker stopped with
// SIGSTOP does: its port still takes connections and every connection stays
// open, but no request is read and no answer written until Thaw. Clients
// wait for their request timeouts.
func (b *Broker) Freeze() { b.port.freeze() }

// Thaw lets the broker answer again after Freeze.
func (b *Broker) Thaw() { b.port.thaw() }

// Produce is what one produce request asked of the broker.
type Produce struct {
	// Acks is the acknowledgement the client waits for: -1 for every
	// in-sync replica, 1 for the leader alone, 0 for none.
	Acks int16
	// ProducerIDs holds the producer id of each record batch in the
	// request: -1 for a batch sent without idempotence.
	ProducerIDs []int64
}

// WatchProduce calls fn with every produce request the broker gets from
// now on, before it serves the request as usual.
func (b *Broker) WatchProduce(fn func(Produce)) {
	b.cluster.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.cluster.KeepControl()
		pr := req.(*kmsg.ProduceRequest)
		p := Produce{Acks: pr.Acks}
		for _, t := range pr.Topics {
			for _, part := range t.Partitions {
				var batch kmsg.RecordBatch
				if err := batch.ReadFrom(part.Records); err == nil {
					p.ProducerIDs = append(p.ProducerIDs, batch.ProducerID)
				}
			}
		}
		fn(p)
		return nil, nil, false
	})
}
