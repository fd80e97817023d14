package main

import (
	"math"
	"slices"
	"time"
)

// summary describes a set of latencies.
type summary struct {
	n             int
	p50, p99, max time.Duration
}

// summarize returns the count, median, 99th percentile and maximum of ds,
// which it leaves as they are.
func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	return summary{
		n:   len(sorted),
		p50: percentile(sorted, 50),
		p99: percentile(sorted, 99),
		max: sorted[len(sorted)-1],
	}
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value that at least p percent of the
// values are less than or equal to. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}
