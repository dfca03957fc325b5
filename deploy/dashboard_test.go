package deploy_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/kanban-mcp/kanban-mcp/metrics"
	"github.com/kanban-mcp/kanban-mcp/metrics/metricstest"
)

// dashboardFile is the ready Grafana dashboard the README points to.
const dashboardFile = "deploy/grafana-dashboard.json"

// grafanaDashboard is the part of Grafana's dashboard model the test reads.
type grafanaDashboard struct {
	Title      string         `json:"title"`
	UID        string         `json:"uid"`
	Panels     []grafanaPanel `json:"panels"`
	Templating struct {
		List []struct {
			Name  string          `json:"name"`
			Query json.RawMessage `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

type grafanaPanel struct {
	ID      int    `json:"id"`
	Type    string `json:"type"`
	Title   string `json:"title"`
	Targets []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	GridPos struct{ H, W, X, Y int } `json:"gridPos"`
}

// selectorName finds the metric name of each selector in a PromQL
// expression: a name followed by its label matchers or a range.
var selectorName = regexp.MustCompile(`([a-zA-Z_:][a-zA-Z0-9_:]*)\s*[{\[]`)

// prefixedName finds anything that looks like one of the exported
// families, with or without a selector after it.
var prefixedName = regexp.MustCompile(`\b((?:` + metrics.Namespace + `|go|process)_[a-zA-Z0-9_:]+)`)

// TestGrafanaDashboard: every query of the dashboard names only metrics
// the server exports (its own, the Go runtime's and the process's), every
// panel queries something, and the panels do not overlap.
func TestGrafanaDashboard(t *testing.T) {
	var d grafanaDashboard
	if err := json.Unmarshal([]byte(readRepoFile(t, dashboardFile)), &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	if d.Title == "" || d.UID == "" {
		t.Errorf("%s: title %q, uid %q: both are needed to import it", dashboardFile, d.Title, d.UID)
	}

	// What /metrics exports: every family the server declares, and the
	// runtime's and the process's as a real scrape shows them.
	reg := metrics.New()
	exported := map[string]bool{}
	for _, n := range reg.Names() {
		exported[n] = true
	}
	for n := range metricstest.Read(t, reg) {
		exported[strings.TrimSuffix(strings.TrimSuffix(n, "_count"), "_sum")] = true
	}
	known := func(name string) bool {
		for _, suffix := range []string{"", "_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && exported[base] {
				return true
			}
		}
		return false
	}

	var exprs []string
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d is used twice", p.ID)
		}
		ids[p.ID] = true
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q queries nothing", p.Title)
		}
		for _, target := range p.Targets {
			exprs = append(exprs, target.Expr)
			if selectorName.FindStringSubmatch(target.Expr) == nil {
				t.Errorf("panel %q: %q selects no metric", p.Title, target.Expr)
			}
		}
	}
	for _, v := range d.Templating.List {
		var q struct {
			Query string `json:"query"`
		}
		if json.Unmarshal(v.Query, &q) == nil && q.Query != "" {
			exprs = append(exprs, q.Query)
		}
	}
	if len(exprs) == 0 {
		t.Fatal("the dashboard has no queries")
	}
	var unknown []string
	for _, e := range exprs {
		for _, m := range selectorName.FindAllStringSubmatch(e, -1) {
			if !known(m[1]) {
				unknown = append(unknown, m[1]+" in "+e)
			}
		}
		for _, m := range prefixedName.FindAllStringSubmatch(e, -1) {
			if !known(m[1]) {
				unknown = append(unknown, m[1]+" in "+e)
			}
		}
	}
	if len(unknown) > 0 {
		t.Errorf("%s queries metrics that /metrics does not export:\n%s", dashboardFile, strings.Join(unknown, "\n"))
	}

	// Panels share the 24-column grid without overlapping.
	for i, a := range d.Panels {
		if a.GridPos.X+a.GridPos.W > 24 || a.GridPos.W == 0 || a.GridPos.H == 0 {
			t.Errorf("panel %q: gridPos %+v is outside the 24-column grid", a.Title, a.GridPos)
		}
		for _, b := range d.Panels[i+1:] {
			if a.GridPos.X < b.GridPos.X+b.GridPos.W && b.GridPos.X < a.GridPos.X+a.GridPos.W &&
				a.GridPos.Y < b.GridPos.Y+b.GridPos.H && b.GridPos.Y < a.GridPos.Y+a.GridPos.H {
				t.Errorf("panels %q and %q overlap", a.Title, b.Title)
			}
		}
	}
}
