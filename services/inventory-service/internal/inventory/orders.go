package inventory

import "time"

// Bounds say how long, and how many, order lines Orders remembers.
type Bounds struct {
	// Window is how long a line is remembered after it was applied.
	Window time.Duration
	// Limit is the most lines remembered at once, and MaxBytes the most
	// bytes their ids take (with entryOverhead each): past either, the
	// oldest are forgotten before the window is over.
	Limit    int
	MaxBytes int
}

// entryOverhead is about what an entry takes beyond its ids: its map entry,
// its place in the queue and its fields.
const entryOverhead = 128

// MinBoundBytes is the least Bounds.MaxBytes: room for one entry of short
// ids.
const MinBoundBytes = 1024

// Orders remembers, for the products of one owner, which order record
// applied lines to which product, so that an order placed again (another
// record with the same orderId) is applied once, on whichever partition of
// the orders it was read. Its clock is the service's own: the time an
// order is remembered from is when its line was applied, never a time the
// order's producer wrote. It is not safe for concurrent use.
type Orders struct {
	bounds Bounds
	lines  map[orderProduct]*Applied
	queue  []orderProduct // in the order first applied, from head on
	head   int
	bytes  int
}

type orderProduct struct{ order, product string }

// Applied is what Orders remembers of an order's lines for one product:
// the order record they came from, the last of them applied, and when the
// first was.
type Applied struct {
	Source Source
	Line   int
	At     time.Time
}

// NewOrders returns an empty Orders that remembers within b.
func NewOrders(b Bounds) *Orders {
	return &Orders{bounds: b, lines: make(map[orderProduct]*Applied)}
}

// Admit reports whether r is to be applied at now, and remembers it if so.
// It is not when r's order applied a line to r's product before from
// another record (the order placed again), or when r itself was applied
// (the same line delivered again); it reports then where the order was
// first read. A later line of the same record for the same product (a
// product listed twice in an order) is admitted.
func (o *Orders) Admit(r Reservation, now time.Time) (first Source, ok bool) {
	o.expire(now)
	key := orderProduct{r.OrderID, r.ProductID}
	if a, seen := o.lines[key]; seen {
		if a.Source != r.Source || r.Line <= a.Line {
			return a.Source, false
		}
		a.Line = r.Line
		return a.Source, true
	}
	o.add(key, Applied{Source: r.Source, Line: r.Line, At: now})
	return r.Source, true
}

// Restore remembers what a changelog recorded of an order's lines for a
// product, unless it is out of the window at now. Restoring in the order
// recorded leaves what Admit left.
func (o *Orders) Restore(orderID, productID string, a Applied, now time.Time) {
	key := orderProduct{orderID, productID}
	if prev, seen := o.lines[key]; seen {
		*prev = a
		return
	}
	if a.At.Before(now.Add(-o.bounds.Window)) {
		return
	}
	o.add(key, a)
	o.expire(now)
}

func (o *Orders) add(key orderProduct, a Applied) {
	size := entrySize(key)
	for len(o.lines) > 0 && (len(o.lines) >= o.bounds.Limit || o.bytes+size > o.bounds.MaxBytes) {
		o.dropOldest()
	}
	o.lines[key] = &a
	o.queue = append(o.queue, key)
	o.bytes += size
}

func entrySize(key orderProduct) int { return len(key.order) + len(key.product) + entryOverhead }

// expire forgets the lines applied more than the window before now.
func (o *Orders) expire(now time.Time) {
	cut := now.Add(-o.bounds.Window)
	for o.head < len(o.queue) && o.lines[o.queue[o.head]].At.Before(cut) {
		o.dropOldest()
	}
}

func (o *Orders) dropOldest() {
	key := o.queue[o.head]
	delete(o.lines, key)
	o.bytes -= entrySize(key)
	o.queue[o.head] = orderProduct{}
	o.head++
	// Reclaim the forgotten front once it is most of the slice.
	if o.head > 1024 && o.head > len(o.queue)/2 {
		o.queue = append(o.queue[:0], o.queue[o.head:]...)
		o.head = 0
	}
}

// Len returns how many orders' lines for a product are remembered, and
// the bytes they are counted for.
func (o *Orders) Len() (entries, bytes int) { return len(o.lines), o.bytes }
