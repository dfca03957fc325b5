package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kanban-mcp/kanban-mcp/httpapi"
)

// The scenario names, in the order they run and are reported.
const (
	ScenarioBare       = "bare"
	ScenarioMCPGo      = "mcpgo/get_board"
	ScenarioToolsList  = "tools/list"
	ScenarioListBoards = "list_boards"
	ScenarioGetBoard   = "get_board"
	ScenarioAddCard    = "add_card"
	ScenarioMix        = "mix"
	ScenarioFullBoard  = "full_board"
)

// ServerScenarios are the server's scenarios, which -scenarios chooses
// from; the baselines always run, since every ratio needs them.
func ServerScenarios() []string {
	return []string{ScenarioToolsList, ScenarioListBoards, ScenarioGetBoard, ScenarioAddCard, ScenarioMix, ScenarioFullBoard}
}

// BenchOptions are what `kanban-mcp bench` was asked to do.
type BenchOptions struct {
	Duration, Warmup time.Duration // measured, and uncounted before it
	Concurrency      int           // keep-alive connections
	Out              string        // the JSON results file
	Scenarios        []string      // server scenarios to run; the baselines always run
}

// benchChild is a started child with what was measured about it.
type benchChild struct {
	*Child
	url          string // origin, e.g. http://127.0.0.1:4242
	startToReady time.Duration
	maxRSS       int64 // the largest VmRSS sampled while it was under load
}

// benchFixture is what setup made on the server.
type benchFixture struct {
	boardID     string   // the 50-card board get_board reads
	loadBoardID string   // the board add_card fills
	loadColumns []string // its column IDs
	fullBoardID string   // the public board at the card quota, when full_board runs
	tokens      []string // kanban.write tokens, one per connection
}

// Bench is `kanban-mcp bench`: it measures the server's speed as ratios
// against two baselines measured in the same run, on the same machine, by
// the same load generator, so that the numbers mean something wherever it
// runs.
//
// It starts three child processes of this very binary, one after the
// other, each timed from spawning to its first 200 from /readyz:
//
//   - the real server (`serve`) on a fresh SQLite file in a temporary
//     folder, trusting a JWKS issuer that this process runs on loopback and
//     whose tokens it mints;
//   - `kanban-mcp bench-baseline bare -addr HOST:PORT`: a net/http handler
//     that parses the JSON-RPC request and writes a fixed answer, the
//     practical limit of Go's HTTP stack;
//   - `kanban-mcp bench-baseline mcpgo -addr HOST:PORT`: an mcp-go
//     stateless server whose get_board returns a fixed 50-card board, with
//     no auth and no database, the library's own floor.
//
// bench-baseline (ServeBaseline) is internal to bench and left out of
// the usage text. Children, not goroutines, so that the load generator's CPU and memory
// are not mixed with the server's and all three are treated alike.
//
// It then fills the server through its tools (a 50-card board, a public
// board, a board to add cards to), runs each scenario for a warm-up and a
// measured duration at a fixed number of keep-alive connections, and
// prints a table (and writes JSON) of throughput, exact latency
// percentiles, errors, SQLite busy errors, the ratios, start-to-ready and
// resident memory. Slowness never fails it: the exit code is 1 only when
// something is broken (a child does not start, setup fails, or every
// request of a scenario fails).
func Bench(ctx context.Context, o BenchOptions, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	self, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find this program to start the server: %w", err)
	}
	dir, err := os.MkdirTemp("", "kanban-bench-")
	if err != nil {
		return fmt.Errorf("create a temporary folder: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = fmt.Errorf("remove the temporary folder: %w", rmErr)
		}
	}()
	iss, err := StartIssuer()
	if err != nil {
		return err
	}
	defer iss.Close()

	// Started one at a time, so that no start-up slows another's; all are
	// stopped on every way out (the deferred calls run before the folder
	// is removed, so the server has let go of its database by then).
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }
	var children []*benchChild
	defer func() {
		for _, c := range children {
			c.Stop()
		}
	}()
	start := func(name string, args []string, addr string, env map[string]string) (*benchChild, error) {
		c, err := StartChild(name, self, args, childEnv(getenv, env))
		if err != nil {
			return nil, err
		}
		bc := &benchChild{Child: c, url: "http://" + addr}
		children = append(children, bc)
		if bc.startToReady, err = c.WaitReady(ctx, bc.url+"/readyz", 30*time.Second); err != nil {
			return nil, err
		}
		progress("%s ready %.1f ms after it was started", name, ms(bc.startToReady))
		return bc, nil
	}

	addr, err := freeLoopbackAddr()
	if err != nil {
		return err
	}
	srv, err := start("server", []string{"serve"}, addr, map[string]string{
		"DATABASE_URL":   filepath.Join(dir, "kanban.db"),
		"LISTEN_ADDR":    addr,
		"BASE_URL":       "http://" + addr,
		"OAUTH_ISSUER":   iss.URL,
		"AUTH_SERVER":    "off", // the issuer is ours, not the built-in one
		"AUTH_CHALLENGE": "tool-result",
		"LOG_LEVEL":      "warn", // errors, and the busy errors counted from them
		// Far beyond what any run adds, so that add_card never meets a
		// quota and measures writes, not refusals.
		"MAX_BOARDS_PER_USER": "1000",
		"MAX_CARDS_PER_BOARD": "1000000000",
	})
	if err != nil {
		return err
	}
	baselines := map[string]*benchChild{}
	for _, kind := range []string{"bare", "mcpgo"} {
		addr, err := freeLoopbackAddr()
		if err != nil {
			return err
		}
		if baselines[kind], err = start(kind, []string{"bench-baseline", kind, "-addr", addr}, addr, nil); err != nil {
			return err
		}
	}

	transport := NewTransport(o.Concurrency)
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	fx, err := benchSetup(ctx, client, iss, srv.url, o.Concurrency, slices.Contains(o.Scenarios, ScenarioFullBoard))
	if err != nil {
		return fmt.Errorf("set up the server's boards: %w\nserver output:\n%s", err, srv.LogTail())
	}
	progress("set up a %d-card board, a public board and a board to add cards to", BoardCardCount)
	if fx.fullBoardID != "" {
		progress("set up a public board of %d cards with descriptions at the length limit", FullBoardCardCount)
	}

	answers, err := measureAnswers(ctx, client, srv.url+"/mcp", fx)
	if err != nil {
		return fmt.Errorf("measure the answers: %w\nserver output:\n%s", err, srv.LogTail())
	}

	rep := &Report{
		Answers:     answers,
		Date:        time.Now().UTC().Format(time.RFC3339),
		GoVersion:   runtime.Version(),
		OS:          runtime.GOOS,
		Arch:        runtime.GOARCH,
		GOMAXPROCS:  runtime.GOMAXPROCS(0),
		NumCPU:      runtime.NumCPU(),
		CPUModel:    CPUModel(),
		Duration:    o.Duration.String(),
		Warmup:      o.Warmup.String(),
		Concurrency: o.Concurrency,
	}
	lopts := Options{Concurrency: o.Concurrency, Warmup: o.Warmup, Duration: o.Duration}
	var failures []error
	for _, s := range benchScenarios(o, srv, baselines, fx) {
		progress("%s: %s warm-up, %s measured, %d connections", s.Name, o.Warmup, o.Duration, o.Concurrency)
		busyBefore := s.target.BusyLines()
		stopSampling := SampleRSS(s.target.Pid(), 50*time.Millisecond)
		res, err := Run(ctx, client, s.Scenario, lopts)
		rss, rssOK := stopSampling()
		if err != nil {
			return err
		}
		transport.CloseIdleConnections() // each scenario dials its own connections
		if !s.target.Running() {
			return fmt.Errorf("%s exited during scenario %s; its output:\n%s", s.target.Name, s.Name, s.target.LogTail())
		}
		sr := scenarioReportOf(res, s.target.Name, s.target.BusyLines()-busyBefore)
		if rssOK {
			sr.RSSMaxMiB = mib(rss)
			s.target.maxRSS = max(s.target.maxRSS, rss)
		}
		rep.Scenarios = append(rep.Scenarios, sr)
		if err := CheckAlive(res); err != nil {
			failures = append(failures, err)
		}
		for _, msg := range res.ErrorSamples {
			fmt.Fprintf(stderr, "bench: %s: error: %s\n", s.Name, msg)
		}
	}
	rep.fillRatios()

	for _, c := range children {
		p := ProcessReport{Name: c.Name, StartToReadyMS: ms(c.startToReady)}
		// The kernel updates VmHWM lazily (RSS is counted per thread and
		// summed now and then), so a sample can exceed it by a little.
		if m, err := ReadMemory(c.Pid()); err == nil {
			p.PeakRSSMiB = mib(max(m.Peak, c.maxRSS))
		}
		rep.Processes = append(rep.Processes, p)
	}
	rep.StartToReadyMS, rep.PeakRSSMiB = rep.Processes[0].StartToReadyMS, rep.Processes[0].PeakRSSMiB

	rep.printTable(stdout, o.Out)
	if err := rep.write(o.Out); err != nil {
		failures = append(failures, err)
	}
	return errors.Join(failures...)
}

// childEnv is a child's whole environment: the settings given, plus only
// the variables a process needs (PATH, HOME…) and the Go runtime's knobs
// (GOMAXPROCS, GOGC…), so that the caller's shell (a PORT, an
// OAUTH_AUDIENCE…) cannot change what is measured.
func childEnv(getenv func(string) string, settings map[string]string) []string {
	var env []string
	for _, name := range []string{"PATH", "HOME", "TMPDIR", "TZ", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG"} {
		if v := getenv(name); v != "" {
			env = append(env, name+"="+v)
		}
	}
	for k, v := range settings {
		env = append(env, k+"="+v)
	}
	slices.Sort(env)
	return env
}

// freeLoopbackAddr finds a loopback address that is free right now. The
// server must know its port before it starts: BASE_URL, and so the
// tokens' audience, names it.
func freeLoopbackAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find a free port on loopback: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// benchSetup creates, through the server's own tools: the 50-card board
// that get_board reads, a public board so that anonymous list_boards has
// something to list, an empty board for add_card, and with full a public
// board filled to the default card quota for full_board. It mints a write
// token per connection (same user and client, distinct jti) and an admin
// token for share_board.
func benchSetup(ctx context.Context, client *http.Client, iss *Issuer, origin string, concurrency int, full bool) (benchFixture, error) {
	var fx benchFixture
	mcpURL := origin + "/mcp"
	grant := Grant{Audience: mcpURL, Subject: "bench-user", ClientID: "kanban-bench", Scope: "kanban.write"}
	for range concurrency {
		tok, err := iss.Mint(grant)
		if err != nil {
			return fx, err
		}
		fx.tokens = append(fx.tokens, tok)
	}
	grant.Scope = "kanban.admin"
	admin, err := iss.Mint(grant)
	if err != nil {
		return fx, err
	}
	write := fx.tokens[0]

	type board struct {
		ID      string `json:"id"`
		Columns []struct {
			ID string `json:"id"`
		} `json:"columns"`
	}
	create := func(title string) (board, error) {
		var b board
		err := callTool(ctx, client, mcpURL, write, "create_board", map[string]any{"title": title, "columns": BoardColumns()}, &b)
		if err == nil && len(b.Columns) != len(BoardColumns()) {
			err = fmt.Errorf("create_board made %d columns, want %d", len(b.Columns), len(BoardColumns()))
		}
		return b, err
	}
	fill := func(b board, cards []CardSpec) error {
		for _, c := range cards {
			args := map[string]any{"board_id": b.ID, "column_id": b.Columns[c.Column].ID, "title": c.Title, "description": c.Description, "labels": c.Labels}
			if err := callTool(ctx, client, mcpURL, write, "add_card", args, nil); err != nil {
				return err
			}
		}
		return nil
	}

	read, err := create("Benchmark board")
	if err != nil {
		return fx, err
	}
	if err := fill(read, FixtureCards()); err != nil {
		return fx, err
	}
	fx.boardID = read.ID

	public, err := create("Public board")
	if err != nil {
		return fx, err
	}
	if err := fill(public, FixtureCards()[:5]); err != nil {
		return fx, err
	}
	if err := callTool(ctx, client, mcpURL, admin, "share_board", map[string]any{"board_id": public.ID, "visibility": "public"}, nil); err != nil {
		return fx, err
	}

	load, err := create("Load board")
	if err != nil {
		return fx, err
	}
	fx.loadBoardID = load.ID
	for _, c := range load.Columns {
		fx.loadColumns = append(fx.loadColumns, c.ID)
	}

	if full {
		fullBoard, err := create("Full public board")
		if err != nil {
			return fx, err
		}
		if err := fill(fullBoard, FullBoardCards()); err != nil {
			return fx, err
		}
		if err := callTool(ctx, client, mcpURL, admin, "share_board", map[string]any{"board_id": fullBoard.ID, "visibility": "public"}, nil); err != nil {
			return fx, err
		}
		fx.fullBoardID = fullBoard.ID
	}
	return fx, nil
}

// callTool calls a tool and decodes its structured content into out (when
// not nil); a failed call, by any measure the load counts, is an error.
func callTool(ctx context.Context, client *http.Client, url, token, name string, args map[string]any, out any) error {
	var body bytes.Buffer
	status, err := Post(ctx, client, url, Request{Body: toolCall(1, name, args), Token: token}, &body)
	if o := Classify(err, status, body.Bytes()); o.Err {
		return fmt.Errorf("%s: %s", name, o.Message)
	}
	if out == nil {
		return nil
	}
	var res struct {
		Result struct {
			Structured json.RawMessage `json:"structuredContent"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body.Bytes(), &res); err != nil {
		return fmt.Errorf("%s: decode the answer: %w", name, err)
	}
	if err := json.Unmarshal(res.Result.Structured, out); err != nil {
		return fmt.Errorf("%s: decode its structured content: %w", name, err)
	}
	return nil
}

// rpc encodes a JSON-RPC request.
func rpc(id int, method string, params any) []byte {
	msg := map[string]any{"jsonrpc": "2.0", "id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	b, err := json.Marshal(msg)
	if err != nil {
		panic(fmt.Sprintf("encode a JSON-RPC request: %v", err)) // maps of strings always encode
	}
	return b
}

func toolCall(id int, name string, args map[string]any) []byte {
	return rpc(id, "tools/call", map[string]any{"name": name, "arguments": args})
}

// benchScenario is a scenario and the process it loads.
type benchScenario struct {
	Scenario
	target *benchChild
}

// benchScenarios lists what runs, in order: the baselines, then the
// server scenarios chosen.
func benchScenarios(o BenchOptions, srv *benchChild, baselines map[string]*benchChild, fx benchFixture) []benchScenario {
	fixed := func(body []byte) func(w, n int) Request {
		return func(int, int) Request { return Request{Body: body} }
	}
	getBoard := toolCall(1, "get_board", map[string]any{"board_id": fx.boardID})
	authGetBoard := func(w, _ int) Request {
		return Request{Body: getBoard, Token: fx.tokens[w]}
	}
	// Each add_card has a title of its own and goes to the columns in
	// turn, as a person adding cards would.
	addCard := func(w, n int) Request {
		args := map[string]any{
			"board_id":  fx.loadBoardID,
			"column_id": fx.loadColumns[n%len(fx.loadColumns)],
			"title":     "Load card " + strconv.Itoa(w) + "-" + strconv.Itoa(n),
		}
		return Request{Body: toolCall(n+1, "add_card", args), Token: fx.tokens[w]}
	}
	toolsList := rpc(1, "tools/list", nil)
	mcp := func(c *benchChild) string { return c.url + "/mcp" }

	all := []benchScenario{
		{Scenario{Name: ScenarioBare, URLs: []string{mcp(baselines["bare"])}, Next: fixed(toolsList)}, baselines["bare"]},
		{Scenario{Name: ScenarioMCPGo, URLs: []string{mcp(baselines["mcpgo"])}, Next: fixed(getBoard)}, baselines["mcpgo"]},
		{Scenario{Name: ScenarioToolsList, URLs: []string{mcp(srv)}, Next: fixed(toolsList)}, srv},
		{Scenario{Name: ScenarioListBoards, URLs: []string{mcp(srv)}, Next: fixed(toolCall(1, "list_boards", map[string]any{}))}, srv},
		{Scenario{Name: ScenarioGetBoard, URLs: []string{mcp(srv)}, Next: authGetBoard}, srv},
		{Scenario{Name: ScenarioAddCard, URLs: []string{mcp(srv)}, Next: addCard}, srv},
		// Every tenth request of each connection writes: exactly 90/10,
		// and the same sequence on every run.
		{Scenario{Name: ScenarioMix, URLs: []string{mcp(srv)}, Next: func(w, n int) Request {
			if n%10 == 9 {
				return addCard(w, n)
			}
			return authGetBoard(w, n)
		}}, srv},
		// Anonymous readers of the largest board a user can make public:
		// what one answer costs, and the memory many of them take.
		{Scenario{Name: ScenarioFullBoard, URLs: []string{mcp(srv)}, Next: fixed(toolCall(1, "get_board", map[string]any{"board_id": fx.fullBoardID}))}, srv},
	}
	var chosen []benchScenario
	for _, s := range all {
		if s.target != srv || slices.Contains(o.Scenarios, s.Name) {
			chosen = append(chosen, s)
		}
	}
	return chosen
}

// Report is the whole result, as written to -out.
type Report struct {
	Date        string `json:"date"`
	GoVersion   string `json:"go_version"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	GOMAXPROCS  int    `json:"gomaxprocs"`
	NumCPU      int    `json:"num_cpu"`
	CPUModel    string `json:"cpu_model"`
	Duration    string `json:"duration"`
	Warmup      string `json:"warmup"`
	Concurrency int    `json:"concurrency"`
	// StartToReadyMS and PeakRSSMiB are the server's (Processes[0]).
	StartToReadyMS float64          `json:"start_to_ready_ms"`
	PeakRSSMiB     *float64         `json:"peak_rss_mib"` // null without /proc
	Processes      []ProcessReport  `json:"processes"`
	Scenarios      []ScenarioReport `json:"scenarios"`
	Answers        []AnswerReport   `json:"answers"`
}

// AnswerReport is the size of one tool answer's text content, against the
// JSON copy of its structured content that the MCP specification suggests
// for the text instead: what the server's rendering saves the model.
type AnswerReport struct {
	Name      string  `json:"name"`
	TextBytes int     `json:"text_bytes"`
	JSONBytes int     `json:"json_bytes"` // the structured content, as the server encodes it
	Ratio     float64 `json:"ratio"`      // TextBytes / JSONBytes
}

// measureAnswers reads the boards that the get_board scenarios read, once,
// and sizes their text against their structured content.
func measureAnswers(ctx context.Context, client *http.Client, mcpURL string, fx benchFixture) ([]AnswerReport, error) {
	boards := []struct{ name, token, id string }{
		{ScenarioGetBoard + fmt.Sprintf(" (%d cards)", BoardCardCount), fx.tokens[0], fx.boardID},
	}
	if fx.fullBoardID != "" {
		boards = append(boards, struct{ name, token, id string }{ScenarioFullBoard + fmt.Sprintf(" (%d cards)", FullBoardCardCount), "", fx.fullBoardID})
	}
	var answers []AnswerReport
	for _, b := range boards {
		var body bytes.Buffer
		status, err := Post(ctx, client, mcpURL, Request{Body: toolCall(1, "get_board", map[string]any{"board_id": b.id}), Token: b.token}, &body)
		if o := Classify(err, status, body.Bytes()); o.Err {
			return nil, fmt.Errorf("get_board: %s", o.Message)
		}
		var res struct {
			Result struct {
				Content []struct {
					Type string `json:"type"`
					Text string `json:"text"`
				} `json:"content"`
				Structured json.RawMessage `json:"structuredContent"`
			} `json:"result"`
		}
		if err := json.Unmarshal(body.Bytes(), &res); err != nil {
			return nil, fmt.Errorf("get_board: decode the answer: %w", err)
		}
		a := AnswerReport{Name: b.name, JSONBytes: len(res.Result.Structured)}
		for _, c := range res.Result.Content {
			if c.Type == "text" {
				a.TextBytes += len(c.Text)
			}
		}
		if a.TextBytes == 0 || a.JSONBytes == 0 {
			return nil, fmt.Errorf("get_board answered without text or structured content: %s", body.Bytes())
		}
		a.Ratio = float64(a.TextBytes) / float64(a.JSONBytes)
		answers = append(answers, a)
	}
	return answers, nil
}

// ProcessReport is one child process: the server or a baseline.
type ProcessReport struct {
	Name           string   `json:"name"`
	StartToReadyMS float64  `json:"start_to_ready_ms"`
	PeakRSSMiB     *float64 `json:"peak_rss_mib"` // VmHWM at the end of the run, or a larger sampled VmRSS
}

// ScenarioReport is one scenario's measurement.
type ScenarioReport struct {
	Name     string  `json:"name"`
	Target   string  `json:"target"` // the process under load
	Requests int     `json:"requests"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50MS    float64 `json:"p50_ms"`
	P95MS    float64 `json:"p95_ms"`
	P99MS    float64 `json:"p99_ms"`
	MeanMS   float64 `json:"mean_ms"`
	MaxMS    float64 `json:"max_ms"`
	Errors   int     `json:"errors"`
	// BusyErrors counts failed answers that mention SQLITE_BUSY or
	// "database is locked"; ServerLogBusy the target's log lines that do
	// during the scenario (an internal error reaches the client without
	// its cause, and an audit batch has no client). The target is zero.
	BusyErrors    int      `json:"busy_errors"`
	ServerLogBusy int64    `json:"server_log_busy"`
	RatioBare     float64  `json:"ratio_bare"`  // rps ÷ the bare baseline's rps
	RatioMCPGo    float64  `json:"ratio_mcpgo"` // rps ÷ the mcpgo baseline's rps
	RSSMaxMiB     *float64 `json:"rss_max_mib"` // the target's largest VmRSS sampled during the scenario
	ErrorSamples  []string `json:"error_samples,omitempty"`
}

func scenarioReportOf(r Result, target string, logBusy int64) ScenarioReport {
	return ScenarioReport{
		Name:          r.Name,
		Target:        target,
		Requests:      r.Requests,
		Seconds:       r.Elapsed.Seconds(),
		RPS:           r.PerSecond(),
		P50MS:         ms(r.Latency.P50),
		P95MS:         ms(r.Latency.P95),
		P99MS:         ms(r.Latency.P99),
		MeanMS:        ms(r.Latency.Mean),
		MaxMS:         ms(r.Latency.Max),
		Errors:        r.Errors,
		BusyErrors:    r.Busy,
		ServerLogBusy: logBusy,
		ErrorSamples:  r.ErrorSamples,
	}
}

// fillRatios divides every throughput by the baselines'.
func (rep *Report) fillRatios() {
	base := map[string]float64{}
	for _, s := range rep.Scenarios {
		base[s.Name] = s.RPS
	}
	for i := range rep.Scenarios {
		s := &rep.Scenarios[i]
		if b := base[ScenarioBare]; b > 0 {
			s.RatioBare = s.RPS / b
		}
		if b := base[ScenarioMCPGo]; b > 0 {
			s.RatioMCPGo = s.RPS / b
		}
	}
}

func (rep *Report) printTable(w io.Writer, out string) {
	// Numbers align right; names are padded so that they read from the left.
	width := len("scenario")
	for _, s := range rep.Scenarios {
		width = max(width, len(s.Name))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\treq/s\tp50 ms\tp95 ms\tp99 ms\terrors\tbusy\tvs bare\tvs mcpgo\tRSS MiB\t\n", width, "scenario")
	for _, s := range rep.Scenarios {
		fmt.Fprintf(tw, "%-*s\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%.3f\t%.3f\t%s\t\n",
			width, s.Name, s.RPS, s.P50MS, s.P95MS, s.P99MS, s.Errors, int64(s.BusyErrors)+s.ServerLogBusy,
			s.RatioBare, s.RatioMCPGo, mibText(s.RSSMaxMiB))
	}
	tw.Flush()
	fmt.Fprintln(w)
	var ready, peak []string
	for _, p := range rep.Processes[1:] {
		ready = append(ready, fmt.Sprintf("%s %.1f ms", p.Name, p.StartToReadyMS))
		peak = append(peak, fmt.Sprintf("%s %s", p.Name, mibText(p.PeakRSSMiB)))
	}
	for _, a := range rep.Answers {
		fmt.Fprintf(w, "answer text:     %s %d bytes; its structured content as JSON %d bytes (%.2f ×)\n", a.Name, a.TextBytes, a.JSONBytes, a.Ratio)
	}
	fmt.Fprintf(w, "start-to-ready:  server %.1f ms (%s)\n", rep.StartToReadyMS, strings.Join(ready, ", "))
	fmt.Fprintf(w, "peak RSS:        server %s MiB (%s MiB)\n", mibText(rep.PeakRSSMiB), strings.Join(peak, ", "))
	fmt.Fprintf(w, "date:            %s\n", rep.Date)
	fmt.Fprintf(w, "machine:         %s, GOMAXPROCS %d / NumCPU %d, %s/%s\n", rep.CPUModel, rep.GOMAXPROCS, rep.NumCPU, rep.OS, rep.Arch)
	fmt.Fprintf(w, "go:              %s\n", rep.GoVersion)
	fmt.Fprintf(w, "load:            %s measured after %s warm-up per scenario, %d keep-alive connections\n", rep.Duration, rep.Warmup, rep.Concurrency)
	fmt.Fprintf(w, "results:         %s\n", out)
}

func (rep *Report) write(path string) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode the results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write the results: %w", err)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(bytes int64) *float64 {
	v := float64(bytes) / (1 << 20)
	return &v
}

func mibText(v *float64) string {
	if v == nil {
		return "n/a"
	}
	return strconv.FormatFloat(*v, 'f', 1, 64)
}

// benchBaseline serves one baseline until ctx ends:
//
//	kanban-mcp bench-baseline bare|mcpgo -addr HOST:PORT
//
// with the same HTTP server settings as serve, so that only the handler
// differs.
func ServeBaseline(ctx context.Context, args []string, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: bench-baseline bare|mcpgo -addr host:port (started by bench)")
	}
	kind, args := args[0], args[1:]
	var handler http.Handler
	switch kind {
	case "bare":
		handler = BareHandler()
	case "mcpgo":
		handler = MCPGoHandler()
	default:
		return fmt.Errorf("unknown baseline %q; want bare or mcpgo", kind)
	}
	fs := flag.NewFlagSet("bench-baseline "+kind, flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	srv := httpapi.NewHTTPServer(handler, nil)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
