package inventory

import "time"

// Orders remembers the ids of the orders read from one order partition for a
// window of time, so that an order placed twice, as two records with the
// same orderId, is applied once. Records with the same key share a
// partition, so a repeated orderId meets its first record's owner.
//
// Time is the orders' own (their records' timestamps), so a replay judges
// as the first pass did. It is not safe for concurrent use.
type Orders struct {
	window time.Duration
	first  map[string]int64 // order id -> offset of its first record
	byAge  []seenOrder      // in the order they were first seen, from head on
	head   int
	newest time.Time
}

type seenOrder struct {
	id string
	at time.Time
}

// NewOrders returns an Orders that remembers an order id for window after
// its first record.
func NewOrders(window time.Duration) *Orders {
	return &Orders{window: window, first: make(map[string]int64)}
}

// Check records the order id of the order record at offset, made at time
// at, and reports whether it repeats an earlier record's order id within
// the window, and that record's offset. The same record delivered again is
// not a repeat.
func (o *Orders) Check(orderID string, offset int64, at time.Time) (firstOffset int64, repeat bool) {
	if at.After(o.newest) {
		o.newest = at
		o.forget()
	}
	if first, ok := o.first[orderID]; ok {
		return first, first != offset
	}
	o.first[orderID] = offset
	o.byAge = append(o.byAge, seenOrder{id: orderID, at: at})
	return offset, false
}

// forget drops the ids first seen more than the window before the newest.
func (o *Orders) forget() {
	cut := o.newest.Add(-o.window)
	for o.head < len(o.byAge) && o.byAge[o.head].at.Before(cut) {
		delete(o.first, o.byAge[o.head].id)
		o.byAge[o.head] = seenOrder{}
		o.head++
	}
	// Reclaim the forgotten front once it is most of the slice.
	if o.head > 1024 && o.head > len(o.byAge)/2 {
		o.byAge = append(o.byAge[:0], o.byAge[o.head:]...)
		o.head = 0
	}
}

// Len returns how many order ids are remembered.
func (o *Orders) Len() int { return len(o.first) }
