package loadtest

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"
)

// The scenarios of a run with -database: the baselines, the chosen
// scenarios on SQLite, on PostgreSQL, and those of them that run on two
// replicas, which send to both replicas' endpoints.
func TestBenchScenariosPerServer(t *testing.T) {
	child := func(name, port string) *benchChild {
		return &benchChild{name: name, url: "http://127.0.0.1:" + port}
	}
	fx := benchFixture{boardID: "b_1", loadBoardID: "b_2", loadColumns: []string{"c_1"}, tokens: []string{"t0", "t1"}}
	sqlite, pg1, pg2 := child("server", "1"), child("pg-1", "2"), child("pg-2", "3")
	chosen := []string{ScenarioListBoards, ScenarioGetBoard, ScenarioAddCard}
	got := benchScenarios(map[string]*benchChild{"bare": child("bare", "4"), "mcpgo": child("mcpgo", "5")}, []benchServer{
		{backend: BackendSQLite, targets: []*benchChild{sqlite}, scenarios: chosen, fx: fx},
		{backend: BackendPostgres, prefix: PrefixPostgres, targets: []*benchChild{pg1}, scenarios: chosen, fx: fx},
		{backend: BackendReplicas, prefix: PrefixReplicas, targets: []*benchChild{pg1, pg2}, scenarios: intersect(chosen, ReplicaScenarios()), fx: fx},
	})
	var names []string
	for _, s := range got {
		names = append(names, s.Name)
		if s.backend != "" && !strings.HasSuffix(s.Name, s.base) {
			t.Errorf("%s runs scenario %q", s.Name, s.base)
		}
		if len(s.URLs) != len(s.targets) {
			t.Errorf("%s: %d URLs for %d targets", s.Name, len(s.URLs), len(s.targets))
		}
	}
	want := []string{ScenarioBare, ScenarioMCPGo,
		"list_boards", "get_board", "add_card",
		"pg/list_boards", "pg/get_board", "pg/add_card",
		"pg2/get_board", "pg2/add_card"}
	if !slices.Equal(names, want) {
		t.Fatalf("scenarios %q, want %q", names, want)
	}
	last := got[len(got)-1]
	if wantURLs := []string{"http://127.0.0.1:2/mcp", "http://127.0.0.1:3/mcp"}; !slices.Equal(last.URLs, wantURLs) || last.backend != BackendReplicas {
		t.Errorf("%s sends to %q on %s, want %q on %s", last.Name, last.URLs, last.backend, wantURLs, BackendReplicas)
	}
}

// A run's report: ratios to SQLite for the PostgreSQL scenarios, errors by
// kind, and the targets with whether they were met.
func TestReportWithPostgres(t *testing.T) {
	rep := &Report{
		Database:  "postgres://127.0.0.1:5432/bench_0123456789abcdef",
		Processes: []ProcessReport{{Name: "server"}, {Name: "pg-1"}},
		Scenarios: []ScenarioReport{
			{Name: ScenarioBare, Scenario: ScenarioBare, RPS: 1000},
			{Name: ScenarioMCPGo, Scenario: ScenarioMCPGo, RPS: 500},
			{Name: "get_board", Scenario: "get_board", Backend: BackendSQLite, RPS: 300},
			{Name: "add_card", Scenario: "add_card", Backend: BackendSQLite, RPS: 400},
			{Name: "pg/get_board", Scenario: "get_board", Backend: BackendPostgres, RPS: 150},
			{Name: "pg/add_card", Scenario: "add_card", Backend: BackendPostgres, RPS: 100,
				Errors: 3, ErrorsByKind: map[ErrorKind]int{ErrUnavailable: 1, ErrRPC: 2}, BusyErrors: 1},
			{Name: "pg2/add_card", Scenario: "add_card", Backend: BackendReplicas, RPS: 1200, ServerLogBusy: 2},
		},
	}
	rep.fillRatios()
	ratios := map[string]float64{}
	for _, s := range rep.Scenarios {
		ratios[s.Name] = s.RatioSQLite
	}
	for name, want := range map[string]float64{"get_board": 0, ScenarioBare: 0, "pg/get_board": 0.5, "pg/add_card": 0.25, "pg2/add_card": 3} {
		if math.Abs(ratios[name]-want) > 1e-9 {
			t.Errorf("%s: ratio to SQLite %v, want %v", name, ratios[name], want)
		}
	}

	rep.Targets = rep.postgresTargets()
	type verdict struct {
		measured, met bool
		value         float64
	}
	var got []verdict
	for _, tg := range rep.Targets {
		got = append(got, verdict{tg.Measured, tg.Met, tg.Value})
	}
	want := []verdict{
		{true, true, 0.5},    // get_board: exactly half is enough
		{true, true, 1200},   // add_card through two replicas
		{true, false, 1 + 2}, // a serialization error in an answer, two in the log
	}
	if !slices.Equal(got, want) {
		t.Errorf("targets %+v, want %+v", got, want)
	}

	var out bytes.Buffer
	rep.printTable(&out, "r.json")
	t.Logf("\n%s", out.String())
	for _, line := range []string{
		"vs sqlite",
		"pg/add_card 3 (1 http_503, 2 jsonrpc)",
		"postgres:        postgres://127.0.0.1:5432/bench_0123456789abcdef, a database created for this run",
		"target:          pg/get_board ÷ get_board on SQLite 0.50 × (target ≥ 0.5): met",
		"target:          pg2/add_card 1200 req/s (target ≥ 1000): met",
		"3 errors (target = 0): NOT met",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the output lacks %q", line)
		}
	}
	// The 503 column: the header's, then pg/add_card's one.
	for _, l := range strings.Split(out.String(), "\n") {
		if f := strings.Fields(l); len(f) > 7 && f[0] == "pg/add_card" && (f[5] != "3" || f[6] != "1" || f[7] != "1") {
			t.Errorf("pg/add_card's errors, 503 and busy columns: %q, want 3, 1, 1", f[5:8])
		}
	}
}

// Without -database nothing about PostgreSQL shows, and a run without
// errors says so.
func TestReportSQLiteOnly(t *testing.T) {
	rep := &Report{
		Processes: []ProcessReport{{Name: "server"}},
		Scenarios: []ScenarioReport{
			{Name: ScenarioBare, Scenario: ScenarioBare, RPS: 1000},
			{Name: "get_board", Scenario: "get_board", Backend: BackendSQLite, RPS: 300},
		},
	}
	rep.fillRatios()
	var out bytes.Buffer
	rep.printTable(&out, "r.json")
	for _, absent := range []string{"vs sqlite", "postgres:", "target:"} {
		if strings.Contains(out.String(), absent) {
			t.Errorf("a SQLite-only run prints %q:\n%s", absent, out.String())
		}
	}
	if !strings.Contains(out.String(), "errors:          none in any scenario") {
		t.Errorf("the output does not say there were no errors:\n%s", out.String())
	}
}

// A target whose scenario -scenarios left out is reported as not measured,
// not as missed.
func TestTargetsNotMeasured(t *testing.T) {
	rep := &Report{Database: "postgres://h/bench_x", Scenarios: []ScenarioReport{
		{Name: "pg/list_boards", Scenario: "list_boards", Backend: BackendPostgres, RPS: 10},
	}}
	targets := rep.postgresTargets()
	if len(targets) != 3 || targets[0].Measured || targets[1].Measured || !targets[2].Measured || !targets[2].Met {
		t.Errorf("targets %+v; want get_board and add_card not measured, no serialization error measured", targets)
	}
}
