package loadtest

import (
	"bytes"
	"encoding/json"
	"maps"
	"math"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kanban-mcp/kanban-mcp/store"
	"github.com/kanban-mcp/kanban-mcp/tools"
)

// The scenarios of a run with -database: the baselines, the chosen
// scenarios on SQLite, on PostgreSQL, and those of them that run on two
// replicas, which send to both replicas' endpoints.
func TestBenchScenariosPerServer(t *testing.T) {
	child := func(name, port string) *benchChild {
		return &benchChild{name: name, url: "http://127.0.0.1:" + port}
	}
	fx := benchFixture{boardID: "b_1", shortBoardID: "b_3", loadBoardID: "b_2", loadColumns: []string{"c_1"}, tokens: []string{"t0", "t1"}}
	sqlite, pg1, pg2 := child("server", "1"), child("pg-1", "2"), child("pg-2", "3")
	chosen := []string{ScenarioListBoards, ScenarioGetBoard, ScenarioGetBoardShort, ScenarioAddCard}
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
	want := []string{ScenarioBare, ScenarioMCPGo, ScenarioMCPGoShort,
		"list_boards", "get_board", "get_board_short", "add_card",
		"pg/list_boards", "pg/get_board", "pg/get_board_short", "pg/add_card",
		"pg2/get_board", "pg2/add_card"}
	if !slices.Equal(names, want) {
		t.Fatalf("scenarios %q, want %q", names, want)
	}
	// Each floor is sent the server's request for the same board, with
	// only the board's ID changed for the short one (the floor has no
	// boards), and without a token.
	body := func(name string) []byte {
		i := slices.IndexFunc(got, func(s benchScenario) bool { return s.Name == name })
		return got[i].Next(0, 0).Body
	}
	if floor, srv := body(ScenarioMCPGo), body(ScenarioGetBoard); !bytes.Equal(floor, srv) {
		t.Errorf("the floor is sent %s for get_board's %s", floor, srv)
	}
	if floor, srv := body(ScenarioMCPGoShort), body(ScenarioGetBoardShort); !bytes.Equal(floor, bytes.Replace(srv, []byte(`"b_3"`), []byte(`"`+ShortBoardSentinel+`"`), 1)) {
		t.Errorf("the floor is sent %s for get_board_short's %s", floor, srv)
	}
	for _, s := range got[1:3] {
		if r := s.Next(1, 0); r.Token != "" {
			t.Errorf("%s sends a token", s.Name)
		}
	}
	for _, s := range got[3:7] {
		if r := s.Next(1, 0); (s.Name == ScenarioListBoards) != (r.Token == "") {
			t.Errorf("%s sends token %q; want one, except for list_boards", s.Name, r.Token)
		}
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

	rep.Targets = rep.targets()
	type verdict struct {
		measured, met bool
		value         float64
	}
	var got []verdict
	for _, tg := range rep.Targets {
		if tg.Issue == 13 {
			got = append(got, verdict{tg.Measured, tg.Met, tg.Value})
		}
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
		"target:          pg/get_board ÷ get_board on SQLite 0.50 × (target ≥ 0.5): met (issue 13)",
		"target:          pg2/add_card 1200 req/s (target ≥ 1000): met (issue 13)",
		"3 errors (target = 0): NOT met (issue 13)",
		"target:          get_board ÷ mcpgo/get_board 0.60 × (target ≥ 0.75): NOT met (issue 14)",
		"target:          get_board_short ÷ mcpgo/get_board_short not measured: -scenarios left its scenario out (issue 14)",
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

// Without -database nothing about PostgreSQL shows, issue 14's targets
// do, and a run without errors says so.
func TestReportSQLiteOnly(t *testing.T) {
	rep := &Report{
		Processes: []ProcessReport{{Name: "server"}},
		Scenarios: []ScenarioReport{
			{Name: ScenarioBare, Scenario: ScenarioBare, RPS: 1000},
			{Name: ScenarioMCPGo, Scenario: ScenarioMCPGo, RPS: 400},
			{Name: "get_board", Scenario: "get_board", Backend: BackendSQLite, RPS: 300},
		},
	}
	rep.fillRatios()
	rep.Targets = rep.targets()
	var out bytes.Buffer
	rep.printTable(&out, "r.json")
	for _, absent := range []string{"vs sqlite", "postgres:", "(issue 13)"} {
		if strings.Contains(out.String(), absent) {
			t.Errorf("a SQLite-only run prints %q:\n%s", absent, out.String())
		}
	}
	for _, line := range []string{
		"errors:          none in any scenario",
		"vs mcpgo:        get_board_short ÷ mcpgo/get_board_short, every other scenario ÷ mcpgo/get_board",
		"target:          get_board ÷ mcpgo/get_board 0.75 × (target ≥ 0.75): met (issue 14)",
		"target:          add_card not measured: -scenarios left its scenario out (issue 14)",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the output lacks %q:\n%s", line, out.String())
		}
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

// Issue 14's targets, on SQLite, measured in every run: each met, missed,
// or not measured when -scenarios left its scenario out (the baselines
// always run).
func TestIssue14Targets(t *testing.T) {
	floors := []ScenarioReport{
		{Name: ScenarioBare, Scenario: ScenarioBare, RPS: 20000},
		{Name: ScenarioMCPGo, Scenario: ScenarioMCPGo, RPS: 2000},
		{Name: ScenarioMCPGoShort, Scenario: ScenarioMCPGoShort, RPS: 4000},
	}
	sqlite := func(name string, rps float64) ScenarioReport {
		return ScenarioReport{Name: name, Scenario: name, Backend: BackendSQLite, RPS: rps}
	}
	type verdict struct {
		measured, met bool
		value         float64
	}
	notMeasured := verdict{}
	for _, tt := range []struct {
		name      string
		scenarios []ScenarioReport
		want      map[string]verdict // by target name
	}{
		{
			name: "all met",
			scenarios: []ScenarioReport{
				sqlite(ScenarioToolsList, 4000), sqlite(ScenarioGetBoard, 1500), sqlite(ScenarioGetBoardShort, 3200),
				sqlite(ScenarioAddCard, 2000),
				// PostgreSQL's busy errors are issue 13's business.
				{Name: "pg/add_card", Scenario: ScenarioAddCard, Backend: BackendPostgres, RPS: 10, BusyErrors: 5},
			},
			want: map[string]verdict{
				"get_board ÷ mcpgo/get_board":             {true, true, 0.75},
				"get_board_short ÷ mcpgo/get_board_short": {true, true, 0.8},
				"tools/list ÷ mcpgo/get_board_short":      {true, true, 1},
				"add_card":                                {true, true, 2000},
				"busy errors in add_card":                 {true, true, 0},
			},
		},
		{
			name: "none met",
			scenarios: []ScenarioReport{
				sqlite(ScenarioToolsList, 3000), sqlite(ScenarioGetBoard, 1400), sqlite(ScenarioGetBoardShort, 2000),
				{Name: ScenarioAddCard, Scenario: ScenarioAddCard, Backend: BackendSQLite, RPS: 1999, BusyErrors: 1, ServerLogBusy: 2},
			},
			want: map[string]verdict{
				"get_board ÷ mcpgo/get_board":             {true, false, 0.7},
				"get_board_short ÷ mcpgo/get_board_short": {true, false, 0.5},
				"tools/list ÷ mcpgo/get_board_short":      {true, false, 0.75},
				"add_card":                                {true, false, 1999},
				"busy errors in add_card":                 {true, false, 3},
			},
		},
		{
			name: "a fast add_card with a busy error in the log",
			scenarios: []ScenarioReport{
				{Name: ScenarioAddCard, Scenario: ScenarioAddCard, Backend: BackendSQLite, RPS: 3000, ServerLogBusy: 1},
			},
			want: map[string]verdict{
				"get_board ÷ mcpgo/get_board":             notMeasured,
				"get_board_short ÷ mcpgo/get_board_short": notMeasured,
				"tools/list ÷ mcpgo/get_board_short":      notMeasured,
				"add_card":                                {true, true, 3000},
				"busy errors in add_card":                 {true, false, 1},
			},
		},
		{
			name: "only the short board left out",
			scenarios: []ScenarioReport{
				sqlite(ScenarioToolsList, 4400), sqlite(ScenarioGetBoard, 1600),
				// On PostgreSQL only: not the target's scenario.
				{Name: "pg/get_board_short", Scenario: ScenarioGetBoardShort, Backend: BackendPostgres, RPS: 3900},
			},
			want: map[string]verdict{
				"get_board ÷ mcpgo/get_board":             {true, true, 0.8},
				"get_board_short ÷ mcpgo/get_board_short": notMeasured,
				"tools/list ÷ mcpgo/get_board_short":      {true, true, 1.1},
				"add_card":                                notMeasured,
				"busy errors in add_card":                 notMeasured,
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rep := &Report{Scenarios: append(slices.Clone(floors), tt.scenarios...)}
			rep.fillRatios()
			targets := rep.targets()
			got := map[string]verdict{}
			for _, tg := range targets {
				if tg.Issue != 14 {
					t.Errorf("target %q of issue %d in a run without -database", tg.Name, tg.Issue)
				}
				got[tg.Name] = verdict{tg.Measured, tg.Met, math.Round(tg.Value*1e9) / 1e9}
			}
			if len(targets) != len(tt.want) || !maps.Equal(got, tt.want) {
				t.Errorf("targets %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// With -database, issue 13's targets follow issue 14's.
func TestTargetsOfBothIssues(t *testing.T) {
	rep := &Report{Database: "postgres://h/bench_x"}
	var issues []int
	for _, tg := range rep.targets() {
		issues = append(issues, tg.Issue)
	}
	if want := []int{14, 14, 14, 14, 14, 13, 13, 13}; !slices.Equal(issues, want) {
		t.Errorf("targets of issues %v, want %v", issues, want)
	}
}

// Each scenario's "vs mcpgo" divides by the floor's get_board of the same
// board: get_board_short, on any backend, by the short-card board's floor;
// every other scenario, the short floor itself included, by the 50-card
// board's.
func TestRatiosPerFloor(t *testing.T) {
	rep := &Report{Scenarios: []ScenarioReport{
		{Name: ScenarioBare, Scenario: ScenarioBare, RPS: 10000},
		{Name: ScenarioMCPGo, Scenario: ScenarioMCPGo, RPS: 2000},
		{Name: ScenarioMCPGoShort, Scenario: ScenarioMCPGoShort, RPS: 5000},
		{Name: "tools/list", Scenario: ScenarioToolsList, Backend: BackendSQLite, RPS: 4000},
		{Name: "get_board", Scenario: ScenarioGetBoard, Backend: BackendSQLite, RPS: 1000},
		{Name: "get_board_short", Scenario: ScenarioGetBoardShort, Backend: BackendSQLite, RPS: 4000},
		{Name: "pg/get_board", Scenario: ScenarioGetBoard, Backend: BackendPostgres, RPS: 500},
		{Name: "pg/get_board_short", Scenario: ScenarioGetBoardShort, Backend: BackendPostgres, RPS: 2500},
		{Name: "pg2/get_board_short", Scenario: ScenarioGetBoardShort, Backend: BackendReplicas, RPS: 3000},
	}}
	rep.fillRatios()
	for _, tt := range []struct {
		name        string
		bare, floor float64
	}{
		{ScenarioBare, 1, 5},
		{ScenarioMCPGo, 0.2, 1},
		{ScenarioMCPGoShort, 0.5, 2.5},
		{"tools/list", 0.4, 2},
		{"get_board", 0.1, 0.5},
		{"get_board_short", 0.4, 0.8},
		{"pg/get_board", 0.05, 0.25},
		{"pg/get_board_short", 0.25, 0.5},
		{"pg2/get_board_short", 0.3, 0.6},
	} {
		s, _ := rep.scenario(tt.name)
		if math.Abs(s.RatioBare-tt.bare) > 1e-9 || math.Abs(s.RatioMCPGo-tt.floor) > 1e-9 {
			t.Errorf("%s: vs bare %v, vs mcpgo %v; want %v and %v", tt.name, s.RatioBare, s.RatioMCPGo, tt.bare, tt.floor)
		}
	}
}

// The mcp-go floor answers get_board as the server does for the board's
// owner: the board, get_board's own summary line, the text rendered by
// the server's function, and the widget's _meta; the short-card board
// for ShortBoardSentinel, the 50-card board for any other ID.
func TestMCPGoFloorAnswers(t *testing.T) {
	if err := store.ValidateID("board", store.BoardPrefix, ShortBoardSentinel); err != nil || len(ShortBoardSentinel) != len(store.NewID(store.BoardPrefix)) {
		t.Errorf("ShortBoardSentinel %q is not of a board ID's form and length (%v)", ShortBoardSentinel, err)
	}
	srv := httptest.NewServer(MCPGoHandler())
	defer srv.Close()
	wantMeta, err := json.Marshal(tools.WidgetResultMeta(true, true))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		id    string
		board tools.BoardOutput
	}{
		{store.NewID(store.BoardPrefix), FixtureBoard(time.Now())},
		{ShortBoardSentinel, ShortFixtureBoard(time.Now())},
	} {
		var body bytes.Buffer
		status, err := Post(t.Context(), srv.Client(), srv.URL+"/mcp", Request{Body: toolCall(1, "get_board", map[string]any{"board_id": tt.id})}, &body)
		if o := Classify(err, status, body.Bytes()); o.Err {
			t.Fatalf("get_board %s: %s", tt.id, o.Message)
		}
		var res struct {
			Result struct {
				Content []struct {
					Text string `json:"text"`
				} `json:"content"`
				Structured tools.BoardOutput `json:"structuredContent"`
				Meta       json.RawMessage   `json:"_meta"`
			} `json:"result"`
		}
		if err := json.Unmarshal(body.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		got := res.Result.Structured
		if got.Title != tt.board.Title || got.CardCount != BoardCardCount || len(got.Columns) != len(BoardColumns()) {
			t.Errorf("get_board %s answered %q with %d cards in %d columns; want %q with %d in %d",
				tt.id, got.Title, got.CardCount, len(got.Columns), tt.board.Title, BoardCardCount, len(BoardColumns()))
		}
		// IDs and the time differ from tt.board's, not their lengths.
		if len(res.Result.Content) != 1 || len(res.Result.Content[0].Text) != len(tools.ResultText(tools.BoardSummary(tt.board), tt.board)) ||
			!strings.HasPrefix(res.Result.Content[0].Text, tools.BoardSummary(tt.board)+"\n") {
			t.Errorf("get_board %s: text %+v; want get_board's summary and the rendered board", tt.id, res.Result.Content)
		}
		if !bytes.Equal(res.Result.Meta, wantMeta) {
			t.Errorf("get_board %s: _meta %s, want %s", tt.id, res.Result.Meta, wantMeta)
		}
	}
}

// The short-card board's cards: as many as the 50-card board's, in the
// same columns, a short title and nothing else.
func TestShortFixtureCards(t *testing.T) {
	long, short := FixtureCards(), ShortFixtureCards()
	if len(short) != len(long) {
		t.Fatalf("%d short cards, want %d", len(short), len(long))
	}
	for i, c := range short {
		if c.Column != long[i].Column || len(c.Title) > len("Card 50") || c.Description != "" || c.Labels == nil || len(c.Labels) != 0 {
			t.Errorf("short card %d: %+v", i, c)
		}
	}
}

// The answers' sizes are printed with whether the floor's are the same.
func TestAnswerLines(t *testing.T) {
	same := AnswerSize{TextBytes: 100, JSONBytes: 200, MetaBytes: 80}
	other := same
	other.TextBytes++
	rep := &Report{Processes: []ProcessReport{{Name: "server"}}, Answers: []AnswerReport{
		{Name: "get_board (50 cards)", AnswerSize: same, Ratio: 0.5, Floor: &same},
		{Name: "get_board_short (50 short cards)", AnswerSize: same, Ratio: 0.5, Floor: &other},
		{Name: "full_board (1000 cards)", AnswerSize: same, Ratio: 0.5},
	}}
	var out bytes.Buffer
	rep.printTable(&out, "r.json")
	for _, line := range []string{
		"answer text:     get_board (50 cards) 100 bytes; its structured content as JSON 200 bytes (0.50 ×); _meta 80 bytes; the mcp-go floor's answer: the same sizes\n",
		"answer text:     get_board_short (50 short cards) 100 bytes; its structured content as JSON 200 bytes (0.50 ×); _meta 80 bytes; the mcp-go floor's answer DIFFERS: text 101, JSON 200, _meta 80 bytes\n",
		"answer text:     full_board (1000 cards) 100 bytes; its structured content as JSON 200 bytes (0.50 ×); _meta 80 bytes\n",
	} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the output lacks %q:\n%s", line, out.String())
		}
	}
}
