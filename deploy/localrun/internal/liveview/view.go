package liveview

import (
	"bytes"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

//go:embed web
var web embed.FS

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"clock": func(t time.Time) string { return t.Format("15:04:05.000") },
	"rate":  func(r float64) string { return strconv.FormatFloat(r, 'f', 1, 64) },
	"join": func(ps []int32) string {
		s := make([]string, len(ps))
		for i, p := range ps {
			s[i] = strconv.Itoa(int(p))
		}
		return strings.Join(s, " ")
	},
}).ParseFS(web, "web/*.html"))

// sections are the parts of the page that the event stream replaces, by
// element id.
var sections = []string{"status", "topics", "groups", "flow", "shop"}

// render lays out each section of the page.
func (s *Server) render(snap snapshot) map[string]string {
	out := map[string]string{}
	for _, id := range sections {
		out[id] = execute(id, snap)
	}
	return out
}

func execute(name string, data any) string {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		return template.HTMLEscapeString(fmt.Sprintf("rendering %s: %v", name, err))
	}
	return b.String()
}

func (s *Server) servePage(w http.ResponseWriter, _ *http.Request) {
	current, _ := s.hub.current()
	html := map[string]template.HTML{}
	for id, h := range current {
		html[id] = template.HTML(h) //nolint:gosec // rendered by our own templates, escaped there
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := templates.ExecuteTemplate(w, "page", html); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}

func serveAsset(name, contentType string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		b, err := web.ReadFile("web/" + name)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", contentType)
		_, _ = w.Write(b)
	}
}

// trace is every event of one correlation id.
type trace struct {
	Correlation, Order string
	Events             []event
}

// serveCorrelation renders the events with the correlation id in the query
// (id), or with that of the order placed under order.
func (s *Server) serveCorrelation(w http.ResponseWriter, r *http.Request) {
	t := trace{Correlation: r.URL.Query().Get("id"), Order: r.URL.Query().Get("order")}
	if t.Correlation == "" && t.Order != "" {
		t.Correlation = s.store.correlationOfOrder(s.cfg.OrderTopic, t.Order)
	}
	if t.Correlation != "" {
		t.Events = s.store.matching(func(e event) bool { return e.Correlation == t.Correlation })
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = io.WriteString(w, execute("trace", t))
}

// answer is order-service's answer to an order from the form.
type answer struct {
	Status  string
	Code    int
	Body    string
	OrderID string
	Fields  []fieldError
	Err     string
}

type fieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// serveOrder sends the form's order to order-service as JSON and renders
// its answer, field errors included.
func (s *Server) serveOrder(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err := r.ParseForm(); err != nil {
		_, _ = io.WriteString(w, execute("answer", answer{Err: err.Error()}))
		return
	}
	body, err := json.Marshal(orderOf(r.PostForm))
	if err != nil {
		_, _ = io.WriteString(w, execute("answer", answer{Err: err.Error()}))
		return
	}
	req, err := http.NewRequestWithContext(r.Context(), http.MethodPost, s.cfg.OrderURL, bytes.NewReader(body))
	if err != nil {
		_, _ = io.WriteString(w, execute("answer", answer{Err: err.Error()}))
		return
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.http.Do(req)
	if err != nil {
		_, _ = io.WriteString(w, execute("answer", answer{Err: err.Error()}))
		return
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	a := answer{Status: resp.Status, Code: resp.StatusCode, Body: strings.TrimSpace(string(b))}
	var parsed struct {
		OrderID string       `json:"orderId"`
		Fields  []fieldError `json:"fields"`
	}
	if json.Unmarshal(b, &parsed) == nil {
		a.OrderID, a.Fields = parsed.OrderID, parsed.Fields
	}
	_, _ = io.WriteString(w, execute("answer", a))
}

// orderOf builds the order's JSON from the form: customerId, an optional
// orderId, and up to two lines of productId, quantity and totalPrice. A
// number is sent as a JSON number and anything else as typed, so that
// order-service, not the page, says what is wrong with it.
func orderOf(form url.Values) map[string]any {
	order := map[string]any{"customerId": form.Get("customerId")}
	if id := strings.TrimSpace(form.Get("orderId")); id != "" {
		order["orderId"] = id
	}
	products := []map[string]any{}
	ids, qs, prices := form["productId"], form["quantity"], form["totalPrice"]
	for i := range ids {
		q, p := at(qs, i), at(prices, i)
		if ids[i] == "" && q == "" && p == "" {
			continue
		}
		products = append(products, map[string]any{"productId": ids[i], "quantity": number(q), "totalPrice": number(p)})
	}
	order["products"] = products
	return order
}

func at(s []string, i int) string {
	if i < len(s) {
		return strings.TrimSpace(s[i])
	}
	return ""
}

func number(s string) any {
	var f float64
	if json.Unmarshal([]byte(s), &f) == nil {
		return json.Number(s)
	}
	return s
}
