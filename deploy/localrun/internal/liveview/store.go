package liveview

import (
	"cmp"
	"slices"
	"sync"
	"time"
)

// event is one record of a flow topic.
type event struct {
	Topic       string
	Partition   int32
	Offset      int64
	Key, Value  string
	Correlation string
	Type        string
	Source      string
	Time        time.Time
}

// store keeps the most recent events: the page's flow shows the last few of
// each topic, and a correlation id is looked up among all of them.
type store struct {
	mu     sync.Mutex
	limit  int
	events []event // oldest first, at most limit
}

func (s *store) add(e event) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, e)
	if len(s.events) > s.limit {
		s.events = slices.Delete(s.events, 0, len(s.events)-s.limit)
	}
}

// last returns the n newest events of topic, newest first.
func (s *store) last(topic string, n int) []event {
	out := s.matching(func(e event) bool { return e.Topic == topic })
	slices.Reverse(out)
	return out[:min(n, len(out))]
}

// matching returns the events for which keep is true, oldest first by
// their records' timestamps.
func (s *store) matching(keep func(event) bool) []event {
	s.mu.Lock()
	var out []event
	for _, e := range s.events {
		if keep(e) {
			out = append(out, e)
		}
	}
	s.mu.Unlock()
	slices.SortStableFunc(out, func(a, b event) int { return a.Time.Compare(b.Time) })
	return out
}

// correlationOfOrder returns the correlation id of the order placed under
// orderID, or "" while its record has not been read.
func (s *store) correlationOfOrder(topic, orderID string) string {
	found := s.matching(func(e event) bool { return e.Topic == topic && e.Key == orderID })
	if len(found) == 0 {
		return ""
	}
	return found[len(found)-1].Correlation
}

// sortedKeys returns m's keys in order.
func sortedKeys[K cmp.Ordered, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
