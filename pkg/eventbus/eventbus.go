// Package eventbus joins the contracts to the Kafka toolkit: it publishes
// contract events with the project's standard headers and turns typed event
// handlers into kafka.Handlers.
//
// The JSON body of every record stays exactly the tutorial's contract, so the
// Node.js services can read it. Everything else travels in headers: an event
// id, a correlation id that follows an order through every service, the event
// type, the schema version, when it was produced and by whom.
package eventbus

import (
	"context"
	"crypto/rand"
	"crypto/sha1" //nolint:gosec // version-5 UUIDs are defined on SHA-1; an event id is no secret
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
	"github.com/eventshop/eventshop/pkg/correlation"
	"github.com/eventshop/eventshop/pkg/kafka"
)

// NewID returns a random RFC 4122 version 4 UUID.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return formatUUID(b, 4)
}

// StableID returns an RFC 4122 version 5 UUID (SHA-1, name-based) of parts:
// the same parts always give the same id, and different parts different
// ids. An event that a crash makes its producer publish again keeps its
// event id when the id is derived from what caused the event, so that
// consumers dropping repeats by event id drop it.
func StableID(parts ...string) string {
	h := sha1.New() //nolint:gosec // as at the import: the UUID version 5 hash, protecting nothing
	for _, p := range parts {
		// The length first, so that ("ab", "c") and ("a", "bc") differ.
		h.Write(binary.AppendUvarint(nil, uint64(len(p))))
		h.Write([]byte(p))
	}
	var b [16]byte
	copy(b[:], h.Sum(nil))
	return formatUUID(b, 5)
}

// formatUUID sets the version and variant bits of b and writes it in the
// canonical 8-4-4-4-12 form.
func formatUUID(b [16]byte, version byte) string {
	b[6] = b[6]&0x0f | version<<4
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

// Publisher publishes contract events.
type Publisher struct {
	kafka  kafka.Publisher
	source string
	now    func() time.Time
}

// NewPublisher publishes through p and names source (a service name) in the
// source-service header of every event.
func NewPublisher(p kafka.Publisher, source string) *Publisher {
	return &Publisher{kafka: p, source: source, now: time.Now}
}

// Publish encodes events, keys each by its contract key, and publishes them
// in one batch, returning once all are acknowledged. The correlation id comes
// from ctx; without one, a fresh id correlates this batch.
func (p *Publisher) Publish(ctx context.Context, events ...contracts.Event) error {
	recs, err := p.Records(ctx, events...)
	if err != nil {
		return err
	}
	return p.kafka.Publish(ctx, recs...)
}

// Records returns the records Publish would publish for events, for a caller
// that publishes them together with records of its own. They carry the
// trace context of ctx (kafka.TraceHeaders), so that they are sent as part
// of its trace, whichever context they are published with.
func (p *Publisher) Records(ctx context.Context, events ...contracts.Event) ([]kafka.Record, error) {
	corr := correlation.ID(ctx)
	if corr == "" {
		corr = NewID()
	}
	trace := kafka.TraceHeaders(ctx)
	at := p.now().UTC().Format(time.RFC3339Nano)
	recs := make([]kafka.Record, len(events))
	for i, e := range events {
		body, err := contracts.Encode(e)
		if err != nil {
			return nil, fmt.Errorf("publish %s: %w", e.EventType(), err)
		}
		recs[i] = kafka.Record{
			Topic: e.Topic(),
			Key:   []byte(e.Key()),
			Value: body,
			Headers: map[string]string{
				contracts.HeaderEventID:       NewID(),
				contracts.HeaderCorrelationID: corr,
				contracts.HeaderEventType:     e.EventType(),
				contracts.HeaderSchemaVersion: contracts.SchemaVersion,
				contracts.HeaderProducedAt:    at,
				contracts.HeaderSourceService: p.source,
			},
		}
		maps.Copy(recs[i].Headers, trace)
	}
	return recs, nil
}

// Correlate is middleware that puts the message's correlation id into the
// handler's context, so that the events the handler publishes carry it on.
// A record from a producer that sets no headers (a kafkajs service, say) is
// correlated by its own event id, or by a fresh id. It puts the message's
// event id there too ("" for a record without one), for a handler that
// drops repeats: correlation.EventID reads it.
func Correlate() kafka.Middleware {
	return func(next kafka.Handler) kafka.Handler {
		return func(ctx context.Context, msg *kafka.Message) error {
			ctx = correlation.With(ctx, CorrelationOf(msg))
			return next(correlation.WithEventID(ctx, msg.Header(contracts.HeaderEventID)), msg)
		}
	}
}

// CorrelationOf returns the correlation id of msg: its correlation-id
// header, else its event id, else a fresh id.
func CorrelationOf(msg *kafka.Message) string {
	if id := msg.Header(contracts.HeaderCorrelationID); id != "" {
		return id
	}
	if id := msg.Header(contracts.HeaderEventID); id != "" {
		return id
	}
	return NewID()
}

// Handle adapts a typed event handler to a kafka.Handler: it decodes the
// record's body with decode and calls fn. A body that breaks the contract,
// or an error from fn that wraps contracts.ErrInvalid, is a permanent error:
// no retry can fix it, so it goes to the dead-letter topic.
func Handle[E any](decode func([]byte) (E, error), fn func(context.Context, E) error) kafka.Handler {
	return func(ctx context.Context, msg *kafka.Message) error {
		e, err := decode(msg.Value)
		if err != nil {
			return kafka.Permanent(fmt.Errorf("decode %s record: %w", msg.Topic, err))
		}
		if err := fn(ctx, e); err != nil {
			if errors.Is(err, contracts.ErrInvalid) {
				return kafka.Permanent(err)
			}
			return err
		}
		return nil
	}
}

// Route sends each message to the handler for its topic. A message from a
// topic with no handler is a permanent error.
func Route(byTopic map[string]kafka.Handler) kafka.Handler {
	return func(ctx context.Context, msg *kafka.Message) error {
		h, ok := byTopic[msg.Topic]
		if !ok {
			return kafka.Permanent(fmt.Errorf("no handler for topic %s", msg.Topic))
		}
		return h(ctx, msg)
	}
}
