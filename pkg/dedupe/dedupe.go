// Package dedupe remembers the ids a service has handled recently, so that
// an event that comes again (a client placing the same order twice, a record
// delivered again after a crash or a rebalance) is recognised and dropped.
// Memory is bounded twice: an id is forgotten once a window of time has
// passed since it was added, and at a size limit the oldest id is forgotten
// early. A repeat that comes later than either is not recognised.
package dedupe

import (
	"fmt"
	"sync"
	"time"
)

// Bounds say how long, and how many, ids a Set remembers.
type Bounds struct {
	// Window is how long an id is remembered after it was added.
	Window time.Duration
	// Limit is the most ids remembered at once; adding one more forgets the
	// oldest.
	Limit int
}

// Set is a set of recently added ids. It is safe for concurrent use.
type Set struct {
	bounds Bounds

	mu   sync.Mutex
	ids  map[string]uint64 // id -> seq of its entry in ring
	ring []entry           // n entries from head on, oldest first, wrapping around
	head int
	n    int
	seq  uint64
}

type entry struct {
	id  string
	seq uint64
	at  time.Time
}

// NewSet returns an empty Set that remembers ids within b. It panics if
// b.Limit is less than 1.
func NewSet(b Bounds) *Set {
	if b.Limit < 1 {
		panic(fmt.Sprintf("dedupe: limit must be at least 1, got %d", b.Limit))
	}
	return &Set{bounds: b, ids: make(map[string]uint64)}
}

// Add remembers id and reports true, or reports false if id is remembered
// already: it was added within the window, is not among the ids forgotten at
// the limit, and was not removed since.
func (s *Set) Add(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now() // under the lock, so that the ring stays in time order
	s.expire(now)
	if _, ok := s.ids[id]; ok {
		return false
	}
	if s.n == s.bounds.Limit {
		s.dropOldest()
	}
	if s.n == len(s.ring) {
		s.grow()
	}
	s.seq++
	s.ids[id] = s.seq
	s.ring[(s.head+s.n)%len(s.ring)] = entry{id: id, seq: s.seq, at: now}
	s.n++
	return true
}

// Remove forgets id, so that adding it again succeeds: for an event that was
// taken as new but then not handled, and will come again. Its entry stays in
// the ring, and counts towards the limit, until it expires.
func (s *Set) Remove(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.ids, id)
}

// Len returns how many ids are remembered.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire(time.Now())
	return len(s.ids)
}

// expire forgets the ids added a window or more before now.
func (s *Set) expire(now time.Time) {
	cut := now.Add(-s.bounds.Window)
	for s.n > 0 && !s.ring[s.head].at.After(cut) {
		s.dropOldest()
	}
}

// dropOldest forgets the oldest entry. Its id stays if it was removed and
// added again since: that is a later entry's.
func (s *Set) dropOldest() {
	e := &s.ring[s.head]
	if s.ids[e.id] == e.seq {
		delete(s.ids, e.id)
	}
	*e = entry{}
	s.head = (s.head + 1) % len(s.ring)
	s.n--
}

// grow doubles the ring, up to the limit, keeping its entries in order. The
// ring never shrinks: at most Limit entries are held.
func (s *Set) grow() {
	ring := make([]entry, min(max(2*len(s.ring), 64), s.bounds.Limit))
	for i := range s.n {
		ring[i] = s.ring[(s.head+i)%len(s.ring)]
	}
	s.ring, s.head = ring, 0
}
