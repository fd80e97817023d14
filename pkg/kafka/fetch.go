package kafka

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/IBM/sarama"
)

// fetcher reads one partition with Fetch requests of its own, read
// committed. Unlike sarama's consumer it knows where each response leaves
// the partition, transaction markers included, so a read can stop exactly
// at an offset that a marker holds.
type fetcher struct {
	client    sarama.Client
	topic     string
	partition int32
	size      int32 // bytes asked for; doubled while a record does not fit
}

// maxFetchSize bounds the growth of fetcher.size.
const maxFetchSize = 64 << 20

// fetch fetches once from offset and calls fn for each committed record
// below end. It returns the offset to fetch from next: past every batch the
// response held, markers and aborted transactions included.
func (f *fetcher) fetch(offset, end int64, fn func(*Message) error) (int64, error) {
	broker, err := f.client.Leader(f.topic, f.partition)
	if err != nil {
		return offset, f.refresh(err)
	}
	// The partition's own limit, f.size, is what cuts a response short.
	// The request's must be above it, as the Java client's is: the
	// embedded broker leaves out the aborted transactions of a response
	// that the request's limit cut.
	req := &sarama.FetchRequest{MinBytes: 1, MaxWaitTime: 100, MaxBytes: maxFetchSize * 2, Isolation: sarama.ReadCommitted}
	// Versions as sarama's consumer picks them; the oldest supported broker
	// (2.1) takes 10.
	switch v := f.client.Config().Version; {
	case v.IsAtLeast(sarama.V2_7_0_0):
		req.Version = 12
	case v.IsAtLeast(sarama.V2_3_0_0):
		req.Version = 11
	default:
		req.Version = 10
	}
	req.SessionID, req.SessionEpoch = 0, -1 // no fetch session
	req.AddBlock(f.topic, f.partition, offset, f.size, -1)
	resp, err := broker.Fetch(req)
	if err != nil {
		return offset, f.refresh(err)
	}
	block := resp.GetBlock(f.topic, f.partition)
	if block == nil {
		return offset, sarama.ErrIncompleteResponse
	}
	switch {
	case errors.Is(block.Err, sarama.ErrOffsetOutOfRange):
		return offset, block.Err
	case !errors.Is(block.Err, sarama.ErrNoError):
		return offset, f.refresh(block.Err)
	}

	// Aborted transactions, by the offset of their first record; a
	// producer's records are skipped from there until its abort marker.
	aborted := slices.Clone(block.AbortedTransactions)
	slices.SortFunc(aborted, func(a, b *sarama.AbortedTransaction) int { return cmp.Compare(a.FirstOffset, b.FirstOffset) })
	aborting := map[int64]bool{}
	next, partial := offset, block.Partial
	for _, recs := range block.RecordsSet {
		batch := recs.RecordBatch
		if batch == nil {
			return offset, fmt.Errorf("kafka: %s/%d@%d: a message set older than Kafka 0.11", f.topic, f.partition, offset)
		}
		if batch.PartialTrailingRecord {
			partial = true
			break
		}
		last := batch.FirstOffset + int64(batch.LastOffsetDelta)
		for len(aborted) > 0 && aborted[0].FirstOffset <= last {
			aborting[aborted[0].ProducerID] = true
			aborted = aborted[1:]
		}
		switch {
		case last < next: // a batch that began before offset
		case batch.Control:
			if isAbortMarker(batch) {
				delete(aborting, batch.ProducerID)
			}
		case batch.IsTransactional && aborting[batch.ProducerID]:
		default:
			for _, rec := range batch.Records {
				at := batch.FirstOffset + rec.OffsetDelta
				if at < next || at >= end {
					continue
				}
				if err := fn(messageFromRecord(f.topic, f.partition, batch, rec)); err != nil {
					return at, err
				}
			}
		}
		next = max(next, last+1)
	}
	if next == offset && partial {
		// A record larger than what was asked for: ask for more.
		if f.size >= maxFetchSize {
			return offset, fmt.Errorf("kafka: %s/%d@%d: a record batch over %d bytes", f.topic, f.partition, offset, maxFetchSize)
		}
		f.size *= 2
	}
	return next, nil
}

// refresh refreshes the topic's metadata after err, which may come of a
// leader that moved, and returns err for the caller to retry or report.
func (f *fetcher) refresh(err error) error {
	if rerr := f.client.RefreshMetadata(f.topic); rerr != nil {
		return errors.Join(err, rerr)
	}
	return err
}

// isAbortMarker reports whether a control batch is an abort marker: its
// record's key is a version (int16) and a type, 0 for abort, 1 for commit.
func isAbortMarker(batch *sarama.RecordBatch) bool {
	if len(batch.Records) == 0 || len(batch.Records[0].Key) < 4 {
		return false
	}
	return binary.BigEndian.Uint16(batch.Records[0].Key[2:4]) == 0
}

func messageFromRecord(topic string, partition int32, batch *sarama.RecordBatch, rec *sarama.Record) *Message {
	m := &Message{
		Topic:     topic,
		Partition: partition,
		Offset:    batch.FirstOffset + rec.OffsetDelta,
		Key:       rec.Key,
		Value:     rec.Value,
		Timestamp: batch.FirstTimestamp.Add(rec.TimestampDelta),
	}
	if batch.LogAppendTime {
		m.Timestamp = batch.MaxTimestamp
	}
	if len(rec.Headers) > 0 {
		m.Headers = make(map[string]string, len(rec.Headers))
		for _, h := range rec.Headers {
			m.Headers[string(h.Key)] = string(h.Value)
		}
	}
	return m
}

// committedBetween counts the committed records of a partition from
// offset from up to end. It reports false if it cannot tell yet: a
// transaction below end is still open.
func committedBetween(client sarama.Client, topic string, partition int32, from, end int64) (int, bool, error) {
	f := fetcher{client: client, topic: topic, partition: partition, size: 1 << 20}
	n := 0
	for from < end {
		next, err := f.fetch(from, end, func(*Message) error { n++; return nil })
		if err != nil {
			return n, false, err
		}
		if next == from && f.size == 1<<20 {
			// Nothing past from below the last stable offset: a
			// transaction is open (a larger fetch would follow a record
			// too large).
			return n, false, nil
		}
		from = max(from, next)
	}
	return n, true, nil
}
