package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// dashboard is the part of a Grafana dashboard's JSON model the tests read.
type dashboard struct {
	UID    string  `json:"uid"`
	Title  string  `json:"title"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID         int            `json:"id"`
	Type       string         `json:"type"`
	Title      string         `json:"title"`
	Datasource *datasourceRef `json:"datasource"`
	GridPos    struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Targets []target `json:"targets"`
}

type target struct {
	RefID        string         `json:"refId"`
	Expr         string         `json:"expr"`
	LegendFormat string         `json:"legendFormat"`
	Datasource   *datasourceRef `json:"datasource"`
}

type datasourceRef struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

// datasource is one entry of Grafana's data source provisioning file.
type datasource struct {
	Name string `yaml:"name"`
	UID  string `yaml:"uid"`
	Type string `yaml:"type"`
	URL  string `yaml:"url"`
}

// requiredPanels are the questions the dashboard must answer, by title.
var requiredPanels = []string{
	"Orders per second",
	"Throughput per topic",
	"Consumer lag per group and partition",
	"Handler p99",
	"Dead-lettered records per second",
	"HTTP requests per second",
	"HTTP p99 latency",
	"Stock per product",
	"Members per group",
}

// grafanaVariables are the variables Grafana fills in a query, with the
// value a query of the tests gets: a minute holds many 5 s scrapes.
var grafanaVariables = map[string]string{"$__rate_interval": "1m", "$__interval": "5s", "$__range": "15m"}

func loadDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("grafana", "dashboards", "eventshop.json"))
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	dec := json.NewDecoder(strings.NewReader(string(data)))
	if err := dec.Decode(&d); err != nil {
		t.Fatalf("eventshop.json: %v", err)
	}
	return d
}

func loadDatasources(t *testing.T) []datasource {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("grafana", "provisioning", "datasources", "datasources.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		APIVersion  int          `yaml:"apiVersion"`
		Datasources []datasource `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(data, &file); err != nil {
		t.Fatalf("datasources.yml: %v", err)
	}
	if file.APIVersion != 1 {
		t.Fatalf("datasources.yml: apiVersion %d, want 1", file.APIVersion)
	}
	return file.Datasources
}

var variable = regexp.MustCompile(`\$\{?\w+`)

// checkDashboard reports every way d departs from a dashboard Grafana
// shows as meant with the provisioned data sources.
func checkDashboard(d dashboard, sources []datasource) []error {
	var errs []error
	report := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if d.UID != "eventshop" || d.Title != "eventshop" {
		report("uid %q and title %q, want eventshop for both: the README links /d/eventshop", d.UID, d.Title)
	}
	byUID := map[string]datasource{}
	for _, s := range sources {
		byUID[s.UID] = s
	}
	for _, want := range []string{"prometheus", "jaeger"} {
		if !slices.ContainsFunc(sources, func(s datasource) bool { return s.Type == want }) {
			report("no %s data source is provisioned", want)
		}
	}

	ids, titles := map[int]bool{}, map[string]bool{}
	for _, p := range d.Panels {
		name := fmt.Sprintf("panel %d %q", p.ID, p.Title)
		if p.ID <= 0 || ids[p.ID] {
			report("%s: id must be positive and unique", name)
		}
		ids[p.ID] = true
		if p.Title == "" || titles[p.Title] {
			report("%s: title must be set and unique", name)
		}
		titles[p.Title] = true
		if !slices.Contains([]string{"timeseries", "stat", "gauge", "bargauge", "table"}, p.Type) {
			report("%s: type %q is not a panel this dashboard uses", name, p.Type)
		}
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			report("%s: gridPos %+v is outside Grafana's 24 columns", name, g)
		}
		for _, q := range d.Panels {
			h := q.GridPos
			if q.ID < p.ID && g.X < h.X+h.W && h.X < g.X+g.W && g.Y < h.Y+h.H && h.Y < g.Y+g.H {
				report("%s overlaps panel %d %q", name, q.ID, q.Title)
			}
		}
		if len(p.Targets) == 0 {
			report("%s: no query", name)
		}
		refs := map[string]bool{}
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				report("%s: refId %q must be set and unique", name, tg.RefID)
			}
			refs[tg.RefID] = true
			ref := tg.Datasource
			if ref == nil {
				ref = p.Datasource
			}
			if ref == nil {
				report("%s %s: no data source", name, tg.RefID)
				continue
			}
			src, ok := byUID[ref.UID]
			if !ok || src.Type != ref.Type || src.Type != "prometheus" {
				report("%s %s: data source %+v is not the provisioned Prometheus", name, tg.RefID, *ref)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				report("%s %s: empty expr", name, tg.RefID)
			}
			for _, v := range variable.FindAllString(tg.Expr, -1) {
				if _, ok := grafanaVariables[v]; !ok {
					report("%s %s: variable %s is not one of Grafana's (the dashboard has no variables of its own)", name, tg.RefID, v)
				}
			}
		}
	}
	for _, want := range requiredPanels {
		if !titles[want] {
			report("no panel %q", want)
		}
	}
	return errs
}

func TestDashboard(t *testing.T) {
	t.Parallel()
	for _, err := range checkDashboard(loadDashboard(t), loadDatasources(t)) {
		t.Error(err)
	}
}

// TestDashboardChecksCatchMistakes breaks the dashboard in the ways the
// checks exist for and expects each to be reported.
func TestDashboardChecksCatchMistakes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mutate func(d *dashboard, sources *[]datasource)
		want   string
	}{
		{"a required panel missing", func(d *dashboard, _ *[]datasource) { d.Panels = d.Panels[1:] }, `no panel "Orders per second"`},
		{"two panels with one id", func(d *dashboard, _ *[]datasource) { d.Panels[1].ID = d.Panels[0].ID }, "unique"},
		{"panels overlapping", func(d *dashboard, _ *[]datasource) { d.Panels[1].GridPos = d.Panels[0].GridPos }, "overlaps"},
		{"a panel wider than the grid", func(d *dashboard, _ *[]datasource) { d.Panels[1].GridPos.W = 24 }, "24 columns"},
		{"a query on an unknown data source", func(d *dashboard, _ *[]datasource) {
			d.Panels[0].Datasource = &datasourceRef{Type: "prometheus", UID: "prom"}
			d.Panels[0].Targets[0].Datasource = nil
		}, "not the provisioned Prometheus"},
		{"no Jaeger data source", func(_ *dashboard, s *[]datasource) {
			*s = slices.DeleteFunc(*s, func(s datasource) bool { return s.Type == "jaeger" })
		}, "no jaeger data source"},
		{"a variable the dashboard does not define", func(d *dashboard, _ *[]datasource) {
			d.Panels[0].Targets[0].Expr = `sum(rate(eventshop_orders_placed_total{job="$service"}[5m]))`
		}, "$service"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, sources := loadDashboard(t), loadDatasources(t)
			tt.mutate(&d, &sources)
			errs := checkDashboard(d, sources)
			for _, err := range errs {
				if strings.Contains(err.Error(), tt.want) {
					return
				}
			}
			t.Errorf("no error mentions %q; got %v", tt.want, errs)
		})
	}
}
