package liveview

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/eventshop/eventshop/pkg/contracts"
)

// flowEvents is how many events of each topic the flow shows; the consumers
// start that many records before each partition's end.
const flowEvents = 12

// snapshot is what one poll saw, ready to render.
type snapshot struct {
	Time          time.Time
	KafkaErr      string
	Topics        []topicView
	Groups        []groupView
	Flow          []flowView
	Stock         []stockLine
	StockErr      string
	Actions       []actionCount
	ActionsErr    string
	Ready         []readyLine
	Notifications []string
}

type topicView struct {
	Name       string
	DeadLetter bool
	Ends       []partitionEnd
	Total      int64
	Rate       float64
	Spark      string // SVG polyline points
}

type groupView struct {
	Name, State string
	Members     []memberView
	Topics      []groupTopic
	Lag         int64
	Changes     []string
}

// groupTopic is one topic a group reads, a cell per partition.
type groupTopic struct {
	Topic string
	Cells []lagRow
}

type memberView struct {
	N                int // 1, 2 ... in the order of their member ids
	ID, Client, Host string
	Owns             []owned
}

type owned struct {
	Topic      string
	Partitions []int32
}

type lagRow struct {
	Partition int32
	Owner     int // the member's N; 0 for none
	Committed string
	End, Lag  int64
}

type flowView struct {
	Topic  string
	Events []event
}

type stockLine struct {
	Product string
	Stock   int
}

type actionCount struct {
	ServiceName string `json:"serviceName"`
	Action      string `json:"action"`
	Count       int    `json:"count"`
}

type readyLine struct{ Service, Status string }

// pageState is what the page remembers between polls: each topic's recent
// rates and each group's membership, to show a change as it happens.
type pageState struct {
	lastTotal map[string]int64
	lastTime  time.Time
	rates     map[string][]float64
	groups    map[string]string // group -> "state, n members"
	changes   map[string][]string
}

func newPageState() *pageState {
	return &pageState{lastTotal: map[string]int64{}, rates: map[string][]float64{}, groups: map[string]string{}, changes: map[string][]string{}}
}

// sparkPoints is how many rates a sparkline shows.
const sparkPoints = 60

func (s *Server) poll(ctx context.Context) snapshot {
	snap := snapshot{Time: time.Now()}
	if err := s.pollKafka(&snap); err != nil {
		snap.KafkaErr = err.Error()
	}
	var stock map[string]int
	if err := s.getJSON(ctx, s.cfg.StockURL, &stock); err != nil {
		snap.StockErr = err.Error()
	}
	for _, p := range sortedKeys(stock) {
		snap.Stock = append(snap.Stock, stockLine{Product: p, Stock: stock[p]})
	}
	var actions struct {
		Actions []actionCount `json:"actions"`
	}
	if err := s.getJSON(ctx, s.cfg.ActionsURL, &actions); err != nil {
		snap.ActionsErr = err.Error()
	}
	snap.Actions = actions.Actions
	for _, name := range sortedKeys(s.cfg.ReadyURLs) {
		snap.Ready = append(snap.Ready, readyLine{Service: name, Status: s.readiness(ctx, s.cfg.ReadyURLs[name])})
	}
	for _, f := range s.cfg.FlowTopics {
		snap.Flow = append(snap.Flow, flowView{Topic: f, Events: s.store.last(f, flowEvents)})
	}
	return snap
}

func (s *Server) pollKafka(snap *snapshot) error {
	if err := s.cluster.connect(); err != nil {
		return err
	}
	topics, err := s.cluster.topics()
	if err != nil {
		return err
	}
	if err := s.cluster.follow(topics, flowEvents); err != nil {
		return err
	}
	groups, err := s.cluster.groups()
	if err != nil {
		return err
	}
	ends := map[string][]partitionEnd{}
	elapsed := snap.Time.Sub(s.page.lastTime).Seconds()
	for _, t := range topics {
		ends[t.name] = t.ends
		v := topicView{Name: t.name, DeadLetter: strings.Contains(t.name, "dead-letter"), Ends: t.ends}
		for _, e := range t.ends {
			v.Total += e.End
		}
		if last, ok := s.page.lastTotal[t.name]; ok && elapsed > 0 {
			v.Rate = float64(v.Total-last) / elapsed
		}
		s.page.lastTotal[t.name] = v.Total
		rates := append(s.page.rates[t.name], v.Rate)
		s.page.rates[t.name] = rates[max(0, len(rates)-sparkPoints):]
		v.Spark = spark(s.page.rates[t.name])
		snap.Topics = append(snap.Topics, v)
	}
	s.page.lastTime = snap.Time
	for _, g := range groups {
		snap.Groups = append(snap.Groups, s.groupView(g, ends, snap.Time))
	}
	snap.Notifications = s.notifications(groups)
	return nil
}

// groupView lays out a group: its members and what they own, and each
// partition it has committed on or owns, with its lag.
func (s *Server) groupView(g groupState, ends map[string][]partitionEnd, now time.Time) groupView {
	v := groupView{Name: g.name, State: g.state}
	owner := map[string]map[int32]int{}
	for i, m := range g.members {
		mv := memberView{N: i + 1, ID: m.id, Client: m.client, Host: m.host}
		for _, topic := range sortedKeys(m.owns) {
			mv.Owns = append(mv.Owns, owned{Topic: topic, Partitions: m.owns[topic]})
			for _, p := range m.owns[topic] {
				if owner[topic] == nil {
					owner[topic] = map[int32]int{}
				}
				owner[topic][p] = mv.N
			}
		}
		v.Members = append(v.Members, mv)
	}
	topics := map[string]bool{}
	for t := range g.committed {
		topics[t] = true
	}
	for t := range owner {
		topics[t] = true
	}
	for _, t := range sortedKeys(topics) {
		gt := groupTopic{Topic: t}
		for _, pe := range ends[t] {
			row := lagRow{Partition: pe.ID, Owner: owner[t][pe.ID], End: pe.End, Committed: "none"}
			if c, ok := g.committed[t][pe.ID]; ok {
				row.Committed = strconv.FormatInt(c, 10)
				row.Lag = max(0, pe.End-c)
			} else {
				row.Lag = pe.End
			}
			v.Lag += row.Lag
			gt.Cells = append(gt.Cells, row)
		}
		v.Topics = append(v.Topics, gt)
	}
	now = now.Truncate(time.Second)
	status := fmt.Sprintf("%s, %d member(s)", g.state, len(g.members))
	if last, ok := s.page.groups[g.name]; ok && last != status {
		changes := append(s.page.changes[g.name], fmt.Sprintf("%s  %s (was %s)", now.Format("15:04:05"), status, last))
		s.page.changes[g.name] = changes[max(0, len(changes)-5):]
	}
	s.page.groups[g.name] = status
	v.Changes = s.page.changes[g.name]
	return v
}

// notifications returns what notification-service has sent, newest first:
// the orders and refill events before its group's committed offsets, worded
// as it words them.
func (s *Server) notifications(groups []groupState) []string {
	var committed map[string]map[int32]int64
	for _, g := range groups {
		if g.name == s.cfg.NotificationGroup {
			committed = g.committed
		}
	}
	sent := s.store.matching(func(e event) bool {
		c, ok := committed[e.Topic][e.Partition]
		return ok && e.Offset < c && (e.Topic == s.cfg.OrderTopic || e.Topic == s.cfg.RefillTopic)
	})
	var out []string
	for i := len(sent) - 1; i >= 0 && len(out) < 15; i-- {
		e := sent[i]
		if e.Topic == s.cfg.OrderTopic {
			if o, err := contracts.DecodeOrder([]byte(e.Value)); err == nil {
				out = append(out, fmt.Sprintf("Congrats %s, your order %s has been approved!", o.CustomerID, o.OrderID))
			}
		} else if ie, err := contracts.DecodeInventoryEmpty([]byte(e.Value)); err == nil {
			out = append(out, fmt.Sprintf("Product %s has to be REFILLED!", ie.ProductID))
		}
	}
	return out
}

// spark draws rates as the points of a 120x24 polyline, scaled to the
// largest.
func spark(rates []float64) string {
	top := 1.0
	for _, r := range rates {
		top = max(top, r)
	}
	var b strings.Builder
	for i, r := range rates {
		x := 120 - 2*(len(rates)-1-i)
		fmt.Fprintf(&b, "%d,%.1f ", x, 23-22*r/top)
	}
	return strings.TrimSpace(b.String())
}

func (s *Server) getJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		return fmt.Errorf("GET %s: %w", url, err)
	}
	return nil
}

// readiness is a service's answer to GET /readyz: "ready", its failing
// checks, or why it did not answer.
func (s *Server) readiness(ctx context.Context, url string) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error()
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return "not answering"
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK {
		return "ready"
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return fmt.Sprintf("%s %s", resp.Status, strings.TrimSpace(string(b)))
}
