package main

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// This file is the report's format: every row of the table and how each
// figure is written.

// table is the report: one row per figure, printed as aligned columns.
type table struct {
	rows [][4]string
}

var tableHeader = [4]string{"BENCHMARK", "MEASURE", "RESULT", "DETAIL"}

func (t *table) add(benchmark, measure, result, detail string) {
	t.rows = append(t.rows, [4]string{benchmark, measure, result, detail})
}

// write prints the header and the rows, columns separated by two spaces.
func (t *table) write(w io.Writer) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 8, 2, ' ', 0)
	for _, row := range append([][4]string{tableHeader}, t.rows...) {
		// Every cell ends in a tab, the last included: a row with fewer
		// cells would end the column blocks tabwriter aligns.
		fmt.Fprintln(tw, strings.Join(row[:], "\t")+"\t")
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return fmt.Errorf("write table: %w", err)
		}
	}
	return nil
}

// addDrain adds the drain benchmark's figures.
func (t *table) addDrain(r drainResult) {
	t.add("drain", "throughput", perSecond(float64(r.orders)/r.elapsed.Seconds(), "orders"),
		fmt.Sprintf("%s orders waiting on new-order-topic; all drained and all events out %s after the consumers' start",
			count(r.orders), duration(r.elapsed)))
	for _, s := range r.services {
		topics := make([]string, len(s.topics))
		for i, topic := range s.topics {
			// The service's own topics are named after its group.
			topics[i] = strings.Replace(topic, s.group, "<group>", 1)
		}
		t.add("drain", s.name+" caught up", duration(s.caughtUp),
			"committed every record of "+strings.Join(topics, ", "))
	}
	extra := r.got.actions() - r.want.actions() + r.got.empties - r.want.empties
	t.add("drain", "inventory events",
		fmt.Sprintf("%s actions, %s empty", count(r.got.actions()), count(r.got.empties)),
		fmt.Sprintf("want %s inventory-updated + %s inventory-empty actions, %s on inventory-empty-topic; %s more, read committed",
			count(r.want.updated), count(r.want.refills), count(r.want.empties), count(extra)))
}

// addMemory adds each consumer's peak memory and CPU time during the drain.
func (t *table) addMemory(r drainResult) {
	for _, s := range r.services {
		t.add("memory", s.name, mebibytes(s.peakRSS), "peak RSS (VmHWM) during drain")
	}
	for _, s := range r.services {
		t.add("cpu", s.name, duration(s.cpu), fmt.Sprintf("CPU time (user+system) from start to drained, %.0f µs per order",
			float64(s.cpu.Microseconds())/float64(max(r.orders, 1))))
	}
}

// addIngest adds the ingest benchmark's figures.
func (t *table) addIngest(r ingestResult) {
	detail := fmt.Sprintf("%d clients for %s: %s accepted (202), %s failed",
		r.clients, duration(r.elapsed), count(r.accepted), count(r.failed))
	if r.firstFailure != "" {
		detail += ", first: " + r.firstFailure
	}
	t.add("ingest", "throughput", perSecond(float64(r.accepted)/r.elapsed.Seconds(), "orders"), detail)
	t.add("ingest", "POST /orders latency", latencies(r.latency), "")
	t.add("ingest", "order-service CPU", fmt.Sprintf("%.0f%% of a core", 100*r.serviceCPU.Seconds()/r.elapsed.Seconds()),
		fmt.Sprintf("%.0f µs per accepted order; the clients and the broker share the machine",
			float64(r.serviceCPU.Microseconds())/float64(max(r.accepted, 1))))
	t.add("ingest", "accepted on new-order-topic", fmt.Sprintf("%s of %s", count(r.onTopic), count(r.accepted)),
		onTopicDetail(r.accepted-r.onTopic))
}

func onTopicDetail(missing int) string {
	if missing == 0 {
		return "every accepted orderId found"
	}
	return count(missing) + " accepted orderIds missing"
}

// addLatency adds the end-to-end latency benchmark's figures at one rate.
func (t *table) addLatency(r latencyResult) {
	bench := "latency " + perSecond(float64(r.rate), "")
	t.add(bench, "load", perSecond(float64(r.load.accepted)/r.load.elapsed.Seconds(), "accepted"),
		fmt.Sprintf("%s POSTs in %s: %s failed, %s not sent (all %d clients busy)",
			count(r.load.sent), duration(r.load.elapsed), count(r.load.failed), count(r.load.skipped), r.load.clients))
	seen := func(s summary) string {
		return fmt.Sprintf("%s of %s accepted orders seen by %s after the last POST", count(s.n), count(r.load.accepted), duration(r.tail))
	}
	t.add(bench, "POST -> notification", latencies(r.notified), seen(r.notified))
	t.add(bench, "POST -> inventory-updated logged", latencies(r.inventoried), seen(r.inventoried))
}

// latencies writes a summary as its median, 99th percentile and maximum.
func latencies(s summary) string {
	if s.n == 0 {
		return "no samples"
	}
	return fmt.Sprintf("p50 %s  p99 %s  max %s", duration(s.p50), duration(s.p99), duration(s.max))
}

// duration writes d with three significant digits or so, in a unit that
// suits it.
func duration(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return fmt.Sprintf("%d µs", d.Microseconds())
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
}

// perSecond writes a rate as a whole number with thousands separators.
func perSecond(x float64, what string) string {
	if what == "" {
		return count(int(x+0.5)) + "/s"
	}
	return count(int(x+0.5)) + " " + what + "/s"
}

// count writes n with thousands separators: 20,000.
func count(n int) string {
	s := strconv.Itoa(max(n, -n))
	var b strings.Builder
	if n < 0 {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// mebibytes writes a size in MiB with one decimal.
func mebibytes(n int64) string {
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}
