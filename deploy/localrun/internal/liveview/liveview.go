// Package liveview serves the live page of `make run`: the broker's topics,
// partitions and consumer groups, the last events of each topic followed by
// correlation id, the shop's stock, notifications and logging actions, and a
// form to place an order. It reads the broker with the Kafka protocol only
// (admin requests and its own group-less partition consumers) and the
// services over their HTTP APIs, and pushes each change to the page over
// Server-Sent Events.
package liveview

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
)

// Config says where the broker and the services are.
type Config struct {
	// Brokers are the Kafka bootstrap addresses.
	Brokers []string
	// FlowTopics are the topics whose events the flow shows.
	FlowTopics []string
	// OrderTopic holds the orders, keyed by order id; NotificationGroup is
	// the group whose committed offsets on it and on RefillTopic mark a
	// notification as sent.
	OrderTopic, RefillTopic, NotificationGroup string
	// OrderURL is order-service's POST /orders, StockURL inventory-service's
	// GET /stock and ActionsURL logging-service's GET /actions.
	OrderURL, StockURL, ActionsURL string
	// ReadyURLs are the services' GET /readyz, by name.
	ReadyURLs map[string]string
	// Interval is how often the broker and the services are asked.
	Interval time.Duration
}

// Server is the live view: New, then Serve.
type Server struct {
	cfg     Config
	cluster *cluster
	store   *store
	http    *http.Client
	page    *pageState
	hub     hub
}

// New returns a live view of what cfg describes.
func New(cfg Config) *Server {
	st := &store{limit: 5000}
	return &Server{
		cfg:     cfg,
		store:   st,
		cluster: &cluster{brokers: cfg.Brokers, flow: cfg.FlowTopics, store: st},
		http:    &http.Client{Timeout: 2 * time.Second},
		page:    newPageState(),
		hub:     hub{changed: make(chan struct{})},
	}
}

// Serve answers on ln and polls until ctx ends; then it closes ln and its
// Kafka connections.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.handler(), ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}

	var wg sync.WaitGroup
	wg.Go(func() { s.pollLoop(ctx) })
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		wg.Wait()
		return err
	case <-ctx.Done():
	}
	// The event streams end with ctx (their BaseContext); Close ends the rest.
	closeErr := srv.Close()
	wg.Wait()
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return closeErr
}

// handler routes the page, its assets, its event stream and its two
// requests. A POST from another site's page is refused: the form places
// real orders.
func (s *Server) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.servePage)
	mux.HandleFunc("GET /app.js", serveAsset("app.js", "text/javascript; charset=utf-8"))
	mux.HandleFunc("GET /style.css", serveAsset("style.css", "text/css; charset=utf-8"))
	mux.HandleFunc("GET /events", s.serveEvents)
	mux.HandleFunc("GET /correlation", s.serveCorrelation)
	mux.HandleFunc("POST /order", s.serveOrder)
	return http.NewCrossOriginProtection().Handler(mux)
}

// pollLoop asks the broker and the services every Interval and publishes
// the page's sections.
func (s *Server) pollLoop(ctx context.Context) {
	defer s.cluster.close()
	tick := time.NewTicker(s.cfg.Interval)
	defer tick.Stop()
	for {
		s.hub.publish(s.render(s.poll(ctx)))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// hub holds the latest rendering of each section; changed is closed and
// replaced on every publish.
type hub struct {
	mu       sync.Mutex
	sections map[string]string
	changed  chan struct{}
}

func (h *hub) publish(sections map[string]string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sections = sections
	close(h.changed)
	h.changed = make(chan struct{})
}

func (h *hub) current() (map[string]string, <-chan struct{}) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.sections, h.changed
}

// serveEvents streams each section of the page as it changes: one event per
// change, whose data is a JSON object of section id to HTML.
func (s *Server) serveEvents(w http.ResponseWriter, r *http.Request) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	sent := map[string]string{}
	for {
		sections, changed := s.hub.current()
		diff := map[string]string{}
		for id, html := range sections {
			if sent[id] != html {
				diff[id], sent[id] = html, html
			}
		}
		if len(diff) > 0 {
			data, err := json.Marshal(diff)
			if err != nil {
				return
			}
			if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
				return
			}
			flusher.Flush()
		}
		select {
		case <-r.Context().Done():
			return
		case <-changed:
		}
	}
}
