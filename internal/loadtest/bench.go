package loadtest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
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
	"github.com/kanban-mcp/kanban-mcp/internal/freeport"
)

// The scenario names, in the order they run and are reported.
const (
	ScenarioBare  = "bare"
	ScenarioMCPGo = "mcpgo/get_board"
	// ScenarioMCPGoShort is the mcp-go floor's get_board of the short-card
	// board, the floor of get_board_short.
	ScenarioMCPGoShort = "mcpgo/get_board_short"
	ScenarioToolsList  = "tools/list"
	ScenarioListBoards = "list_boards"
	ScenarioGetBoard   = "get_board"
	// ScenarioGetBoardShort is get_board of a 50-card board whose cards
	// have a short title and nothing else (ShortFixtureCards), with a
	// token: what the server adds to the library when the answer is small.
	ScenarioGetBoardShort = "get_board_short"
	ScenarioAddCard       = "add_card"
	ScenarioMix           = "mix"
	ScenarioFullBoard     = "full_board"
)

// BaselineScenarios are the baselines' scenarios, which always run, since
// every ratio needs them.
func BaselineScenarios() []string {
	return []string{ScenarioBare, ScenarioMCPGo, ScenarioMCPGoShort}
}

// ServerScenarios are the server's scenarios, which -scenarios chooses
// from.
func ServerScenarios() []string {
	return []string{ScenarioToolsList, ScenarioListBoards, ScenarioGetBoard, ScenarioGetBoardShort, ScenarioAddCard, ScenarioMix, ScenarioFullBoard}
}

// floorOf is the mcp-go floor that a server scenario's "vs mcpgo" ratio
// divides by: the floor's get_board of the same board, which for every
// scenario but get_board_short (and the baselines themselves) is the
// 50-card board's, as it always was.
func floorOf(scenario string) string {
	if scenario == ScenarioGetBoardShort {
		return ScenarioMCPGoShort
	}
	return ScenarioMCPGo
}

// ReplicaScenarios are the server scenarios that also run on two
// replicas: those with a token on one board, which is what replicas must
// agree on (a board cached by one and written through the other), and
// add_card, whose target is stated through two replicas.
func ReplicaScenarios() []string {
	return []string{ScenarioGetBoard, ScenarioAddCard, ScenarioMix}
}

// With -database, each chosen server scenario runs again on PostgreSQL,
// named with a prefix: PrefixPostgres on one server, PrefixReplicas on two
// replicas of it on the same database (ReplicaScenarios only), with the
// connections alternating between the two.
const (
	PrefixPostgres = "pg/"
	PrefixReplicas = "pg2/"
)

// The backends a scenario report names; the baselines have none.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"
	BackendReplicas = "postgres-2-replicas"
)

// BenchOptions are what `kanban-mcp bench` was asked to do.
type BenchOptions struct {
	Duration, Warmup time.Duration // measured, and uncounted before it
	Concurrency      int           // keep-alive connections
	Out              string        // the JSON results file
	Scenarios        []string      // server scenarios to run; the baselines always run
	// Database is a postgres:// URL: the server is then also measured on
	// PostgreSQL, in a database that Bench creates there and drops (see
	// createBenchDatabase). Empty: SQLite only.
	Database string
	// CPUProfiles is a folder: each server process's CPU profile of each
	// scenario's measured time is written there (see profileCPU). Empty:
	// no profiles.
	CPUProfiles string
}

// benchChild is a child process of the bench: what it runs, and once it
// is launched, the process and what was measured about it.
type benchChild struct {
	*Child                         // nil until launched
	name         string            // for the report and the messages
	args         []string          // this binary's arguments
	env          map[string]string // its settings (see childEnv)
	url          string            // origin, e.g. http://127.0.0.1:4242
	metricsURL   string            // its private listener's origin, when it serves profiles
	startToReady time.Duration
	maxRSS       int64 // the largest VmRSS sampled while it was under load
}

// newChild describes a child that listens on a free loopback port;
// listen makes its arguments and settings from that address.
func newChild(name string, listen func(addr string) ([]string, map[string]string)) (*benchChild, error) {
	addr, err := freeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	args, env := listen(addr)
	return &benchChild{name: name, args: args, env: env, url: "http://" + addr}, nil
}

// newServer describes a `serve` child on databaseURL that trusts issuer.
// baseURL is its BASE_URL, and so the audience of the tokens it accepts:
// replicas share one, as behind a load balancer, while each listens on a
// port of its own (its Host is loopback, which every server allows); ""
// gives it its own origin. With profiles, it also serves Go's profiles
// on a private listener of its own (METRICS_ADDR, METRICS_PPROF).
func newServer(name, databaseURL, baseURL string, iss *Issuer, profiles bool) (*benchChild, error) {
	metricsAddr := ""
	if profiles {
		var err error
		if metricsAddr, err = freeLoopbackAddr(); err != nil {
			return nil, err
		}
	}
	bc, err := newChild(name, func(addr string) ([]string, map[string]string) {
		if baseURL == "" {
			baseURL = "http://" + addr
		}
		env := map[string]string{
			"DATABASE_URL":   databaseURL,
			"LISTEN_ADDR":    addr,
			"BASE_URL":       baseURL,
			"OAUTH_ISSUER":   iss.URL,
			"AUTH_SERVER":    "off", // the issuer is ours, not the built-in one
			"AUTH_CHALLENGE": "tool-result",
			"LOG_LEVEL":      "warn", // errors, and the busy errors counted from them
			// Far beyond what any run adds, so that add_card never meets a
			// quota and measures writes, not refusals.
			"MAX_BOARDS_PER_USER": "1000",
			"MAX_CARDS_PER_BOARD": "1000000000",
		}
		if metricsAddr != "" {
			env["METRICS_ADDR"], env["METRICS_PPROF"] = metricsAddr, "true"
		}
		return []string{"serve"}, env
	})
	if err == nil && metricsAddr != "" {
		bc.metricsURL = "http://" + metricsAddr
	}
	return bc, err
}

// benchFixture is what setup made on the server.
type benchFixture struct {
	boardID      string   // the 50-card board get_board reads
	shortBoardID string   // the 50-card board of short cards get_board_short reads
	loadBoardID  string   // the board add_card fills
	loadColumns  []string // its column IDs
	fullBoardID  string   // the public board at the card quota, when full_board runs
	tokens       []string // kanban.write tokens, one per connection
}

// benchServer is a kanban server under load: one process, or replicas on
// one database with the connections split across them, and the boards
// set up on it.
type benchServer struct {
	backend   string        // BackendSQLite…
	prefix    string        // of its scenarios' names: "" on SQLite, PrefixPostgres…
	targets   []*benchChild // its processes
	scenarios []string      // the server scenarios that run on it
	fx        benchFixture
}

// Bench is `kanban-mcp bench`: it measures the server's speed as ratios
// against two baselines measured in the same run, on the same machine, by
// the same load generator, so that the numbers mean something wherever it
// runs.
//
// It starts child processes of this very binary, one after the other,
// each timed from spawning to its first 200 from /readyz:
//
//   - the real server (`serve`) on a fresh SQLite file in a temporary
//     folder, trusting a JWKS issuer that this process runs on loopback and
//     whose tokens it mints;
//   - `kanban-mcp bench-baseline bare -addr HOST:PORT`: a net/http handler
//     that parses the JSON-RPC request and writes a fixed answer, the
//     practical limit of Go's HTTP stack;
//   - `kanban-mcp bench-baseline mcpgo -addr HOST:PORT`: an mcp-go
//     stateless server whose get_board returns a fixed 50-card board (or
//     the short-card board, for ShortBoardSentinel) with the server's
//     text and _meta, with no auth and no database, the library's own
//     floor;
//   - with -database, the server on PostgreSQL (pg-1), in a database
//     that Bench creates for the run and drops afterwards, and, just
//     before the first two-replica scenario, a second replica (pg-2) on
//     the same database with the same BASE_URL, so that the single-server
//     scenarios run without it.
//
// bench-baseline (ServeBaseline) is internal to bench and left out of
// the usage text. Children, not goroutines, so that the load generator's CPU and memory
// are not mixed with the server's and all are treated alike.
//
// It then fills each server through its tools (a 50-card board, one of
// short cards, a public board, a board to add cards to), sizes the
// server's and the floor's get_board answers (measureAnswers), runs each
// scenario for a warm-up and a measured duration at a fixed number of
// keep-alive connections, and prints a table (and writes JSON) of
// throughput, exact latency percentiles, errors by kind, busy and
// serialization errors, the ratios (PostgreSQL's also to the same
// scenario on SQLite), start-to-ready, resident memory, and the targets
// and whether they were met: issue 14's always, issue 13's with
// -database. Slowness never fails it: the exit code is 1 only when
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
	progress := func(format string, args ...any) { fmt.Fprintf(stderr, "bench: "+format+"\n", args...) }
	// First, so that a role that may not create databases fails the run
	// before anything starts, and so that it is dropped after every
	// child is stopped (deferred calls run last first).
	var pg *benchDatabase
	if o.Database != "" {
		if pg, err = createBenchDatabase(ctx, o.Database); err != nil {
			return err
		}
		defer func() { err = errors.Join(err, pg.drop(ctx)) }()
		progress("created database %s for this run; it is dropped at the end", pg.Shown)
	}
	iss, err := StartIssuer()
	if err != nil {
		return err
	}
	defer iss.Close()

	// Started one at a time, so that no start-up slows another's; all are
	// stopped on every way out (the deferred calls run before the folder
	// is removed and the database dropped, so the servers have let go of
	// them by then).
	var children []*benchChild
	defer func() {
		for _, c := range children {
			c.Stop()
		}
	}()
	launch := func(bc *benchChild) error {
		c, err := StartChild(bc.name, self, bc.args, childEnv(getenv, bc.env))
		if err != nil {
			return err
		}
		bc.Child = c
		children = append(children, bc)
		if bc.startToReady, err = c.WaitReady(ctx, bc.url+"/readyz", 30*time.Second); err != nil {
			return err
		}
		progress("%s ready %.1f ms after it was started", bc.name, ms(bc.startToReady))
		return nil
	}

	profiles := o.CPUProfiles != ""
	if profiles {
		if err := os.MkdirAll(o.CPUProfiles, 0o755); err != nil {
			return fmt.Errorf("create the profiles' folder: %w", err)
		}
	}
	srv, err := newServer("server", filepath.Join(dir, "kanban.db"), "", iss, profiles)
	if err != nil {
		return err
	}
	if err := launch(srv); err != nil {
		return err
	}
	baselines := map[string]*benchChild{}
	for _, kind := range []string{"bare", "mcpgo"} {
		if baselines[kind], err = newChild(kind, func(addr string) ([]string, map[string]string) {
			return []string{"bench-baseline", kind, "-addr", addr}, nil
		}); err != nil {
			return err
		}
		if err := launch(baselines[kind]); err != nil {
			return err
		}
	}
	servers := []benchServer{{backend: BackendSQLite, targets: []*benchChild{srv}, scenarios: o.Scenarios}}
	if pg != nil {
		pg1, err := newServer("pg-1", pg.URL, "", iss, profiles)
		if err != nil {
			return err
		}
		if err := launch(pg1); err != nil {
			return err
		}
		pg2, err := newServer("pg-2", pg.URL, pg1.url, iss, profiles) // launched when first loaded
		if err != nil {
			return err
		}
		servers = append(servers,
			benchServer{backend: BackendPostgres, prefix: PrefixPostgres, targets: []*benchChild{pg1}, scenarios: o.Scenarios},
			benchServer{backend: BackendReplicas, prefix: PrefixReplicas, targets: []*benchChild{pg1, pg2}, scenarios: intersect(o.Scenarios, ReplicaScenarios())})
	}

	transport := NewTransport(o.Concurrency)
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport, Timeout: 30 * time.Second}

	// Each database gets its own boards, set up through its first process:
	// replicas share them, as they share the database.
	for i := range servers {
		s := &servers[i]
		if i > 0 && s.targets[0] == servers[i-1].targets[0] {
			s.fx = servers[i-1].fx
			continue
		}
		full := slices.Contains(s.scenarios, ScenarioFullBoard)
		if s.fx, err = benchSetup(ctx, client, iss, s.targets[0].url, o.Concurrency, full); err != nil {
			return fmt.Errorf("set up the boards of %s: %w\nits output:\n%s", s.targets[0].name, err, s.targets[0].LogTail())
		}
		progress("%s: set up a %d-card board, a %d-card board of short cards, a public board and a board to add cards to", s.targets[0].name, BoardCardCount, BoardCardCount)
		if s.fx.fullBoardID != "" {
			progress("%s: set up a public board of %d cards with descriptions at the length limit", s.targets[0].name, FullBoardCardCount)
		}
	}

	answers, err := measureAnswers(ctx, client, srv.url+"/mcp", baselines["mcpgo"].url+"/mcp", servers[0].fx)
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
	if pg != nil {
		rep.Database = pg.Shown
	}
	lopts := Options{Concurrency: o.Concurrency, Warmup: o.Warmup, Duration: o.Duration}
	var failures []error
	for _, s := range benchScenarios(baselines, servers) {
		for _, t := range s.targets {
			if t.Child == nil {
				if err := launch(t); err != nil {
					return err
				}
			}
		}
		progress("%s: %s warm-up, %s measured, %d connections", s.Name, o.Warmup, o.Duration, o.Concurrency)
		var names []string
		var busyBefore int64
		var stopSampling []func() (int64, bool)
		for _, t := range s.targets {
			names = append(names, t.name)
			busyBefore += t.BusyLines()
			stopSampling = append(stopSampling, SampleRSS(t.Pid(), 50*time.Millisecond))
		}
		var profiled []<-chan error
		for _, t := range s.targets {
			if t.metricsURL != "" {
				profiled = append(profiled, profileCPU(ctx, t.metricsURL, o.Warmup, o.Duration,
					filepath.Join(o.CPUProfiles, profileName(s.Name, t.name))))
			}
		}
		res, err := Run(ctx, client, s.Scenario, lopts)
		for _, p := range profiled {
			if perr := <-p; perr != nil {
				failures = append(failures, perr)
			}
		}
		var rss *float64
		for i, t := range s.targets {
			if most, ok := stopSampling[i](); ok {
				t.maxRSS = max(t.maxRSS, most)
				if rss == nil || *mib(most) > *rss {
					rss = mib(most)
				}
			}
		}
		if err != nil {
			return err
		}
		transport.CloseIdleConnections() // each scenario dials its own connections
		var busyAfter int64
		for _, t := range s.targets {
			if !t.Running() {
				return fmt.Errorf("%s exited during scenario %s; its output:\n%s", t.name, s.Name, t.LogTail())
			}
			busyAfter += t.BusyLines()
		}
		sr := scenarioReportOf(res, strings.Join(names, "+"), busyAfter-busyBefore)
		sr.Scenario, sr.Backend, sr.RSSMaxMiB = s.base, s.backend, rss
		rep.Scenarios = append(rep.Scenarios, sr)
		if err := CheckAlive(res); err != nil {
			failures = append(failures, err)
		}
		for _, msg := range res.ErrorSamples {
			fmt.Fprintf(stderr, "bench: %s: error: %s\n", s.Name, msg)
		}
	}
	rep.fillRatios()
	rep.Targets = rep.targets()

	for _, c := range children {
		p := ProcessReport{Name: c.name, StartToReadyMS: ms(c.startToReady)}
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

// profileName is the file of server's CPU profile of scenario: the
// scenario's name with its slashes made dashes, then the server's.
func profileName(scenario, server string) string {
	return strings.ReplaceAll(scenario, "/", "-") + "." + server + ".pprof"
}

// profileCPU asks the server whose private listener is at metricsURL for
// a CPU profile of the measured part of a scenario that starts now (after
// warmup, for duration, in whole seconds as pprof counts them) and writes
// it to path. The channel gets the outcome once it is written.
func profileCPU(ctx context.Context, metricsURL string, warmup, duration time.Duration, path string) <-chan error {
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(warmup):
			}
			seconds := max(1, int(math.Ceil(duration.Seconds())))
			client := &http.Client{Timeout: time.Duration(seconds)*time.Second + 30*time.Second}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", metricsURL, seconds), nil)
			if err != nil {
				return err
			}
			resp, err := client.Do(req)
			if err != nil {
				return fmt.Errorf("CPU profile for %s: %w", path, err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("CPU profile for %s: %s", path, resp.Status)
			}
			f, err := os.Create(path)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, resp.Body); err != nil {
				f.Close()
				return fmt.Errorf("CPU profile for %s: %w", path, err)
			}
			return f.Close()
		}()
	}()
	return done
}

// intersect is the names of chosen that are in among, in chosen's order.
func intersect(chosen, among []string) []string {
	var out []string
	for _, n := range chosen {
		if slices.Contains(among, n) {
			out = append(out, n)
		}
	}
	return out
}

// childEnv is a child's whole environment: the settings given, plus only
// the variables a process needs (PATH, HOME…), the Go runtime's knobs
// (GOMAXPROCS, GOGC…) and libpq's connection variables that pgx reads
// (PGPASSWORD, PGSSLMODE…: a password kept out of -database, and so out
// of the process list, reaches the servers as it reached bench), so that
// the caller's shell (a PORT, an OAUTH_AUDIENCE…) cannot change what is
// measured.
func childEnv(getenv func(string) string, settings map[string]string) []string {
	var env []string
	for _, name := range []string{
		"PATH", "HOME", "TMPDIR", "TZ", "GOMAXPROCS", "GOGC", "GOMEMLIMIT", "GODEBUG",
		"PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGPASSFILE", "PGSERVICE", "PGSERVICEFILE",
		"PGSSLMODE", "PGSSLROOTCERT", "PGSSLCERT", "PGSSLKEY", "PGSSLPASSWORD", "PGSSLSNI",
	} {
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

// freeLoopbackAddr finds a loopback address for a server that must know
// its port before it starts: BASE_URL, and so the tokens' audience, names it.
func freeLoopbackAddr() (string, error) {
	port, err := freeport.Loopback()
	if err != nil {
		return "", err
	}
	return "127.0.0.1:" + strconv.Itoa(port), nil
}

// benchSetup creates, through the server's own tools: the 50-card board
// that get_board reads, the 50-card board of short cards that
// get_board_short reads, a public board so that anonymous list_boards has
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

	read, err := create(BoardTitle)
	if err != nil {
		return fx, err
	}
	if err := fill(read, FixtureCards()); err != nil {
		return fx, err
	}
	fx.boardID = read.ID

	short, err := create(ShortBoardTitle)
	if err != nil {
		return fx, err
	}
	if err := fill(short, ShortFixtureCards()); err != nil {
		return fx, err
	}
	fx.shortBoardID = short.ID

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

// benchScenario is a scenario and the processes it loads.
type benchScenario struct {
	Scenario
	base    string        // the server scenario it runs (Name without the prefix)
	backend string        // BackendSQLite…; "" for a baseline
	targets []*benchChild // where its requests go, one URL each
}

// benchScenarios lists what runs, in order: the baselines, then each
// server's chosen scenarios, named with its prefix.
func benchScenarios(baselines map[string]*benchChild, servers []benchServer) []benchScenario {
	mcp := func(c *benchChild) string { return c.url + "/mcp" }
	// mcp-go's get_board answers a fixed board whatever the ID, except the
	// short-card board for ShortBoardSentinel: the floor's requests are the
	// server's, the ID aside.
	getBoard := toolCall(1, "get_board", map[string]any{"board_id": servers[0].fx.boardID})
	getShort := toolCall(1, "get_board", map[string]any{"board_id": ShortBoardSentinel})
	floor := baselines["mcpgo"]
	all := []benchScenario{
		{Scenario{Name: ScenarioBare, URLs: []string{mcp(baselines["bare"])}, Next: fixed(rpc(1, "tools/list", nil))}, ScenarioBare, "", []*benchChild{baselines["bare"]}},
		{Scenario{Name: ScenarioMCPGo, URLs: []string{mcp(floor)}, Next: fixed(getBoard)}, ScenarioMCPGo, "", []*benchChild{floor}},
		{Scenario{Name: ScenarioMCPGoShort, URLs: []string{mcp(floor)}, Next: fixed(getShort)}, ScenarioMCPGoShort, "", []*benchChild{floor}},
	}
	for _, srv := range servers {
		var urls []string
		for _, t := range srv.targets {
			urls = append(urls, mcp(t))
		}
		for _, sc := range serverScenarios(srv.fx, urls) {
			if slices.Contains(srv.scenarios, sc.Name) {
				base := sc.Name
				sc.Name = srv.prefix + base
				all = append(all, benchScenario{sc, base, srv.backend, srv.targets})
			}
		}
	}
	return all
}

// fixed sends body as every request, without a token.
func fixed(body []byte) func(w, n int) Request {
	return func(int, int) Request { return Request{Body: body} }
}

// serverScenarios are every server scenario, in ServerScenarios' order,
// on fx's boards, sending to urls.
func serverScenarios(fx benchFixture, urls []string) []Scenario {
	getBoard := toolCall(1, "get_board", map[string]any{"board_id": fx.boardID})
	authGetBoard := func(w, _ int) Request {
		return Request{Body: getBoard, Token: fx.tokens[w]}
	}
	getShort := toolCall(1, "get_board", map[string]any{"board_id": fx.shortBoardID})
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
	return []Scenario{
		{Name: ScenarioToolsList, URLs: urls, Next: fixed(rpc(1, "tools/list", nil))},
		{Name: ScenarioListBoards, URLs: urls, Next: fixed(toolCall(1, "list_boards", map[string]any{}))},
		{Name: ScenarioGetBoard, URLs: urls, Next: authGetBoard},
		// With a token, as get_board, so that the two differ only in the
		// cards.
		{Name: ScenarioGetBoardShort, URLs: urls, Next: func(w, _ int) Request { return Request{Body: getShort, Token: fx.tokens[w]} }},
		{Name: ScenarioAddCard, URLs: urls, Next: addCard},
		// Every tenth request of each connection writes: exactly 90/10,
		// and the same sequence on every run.
		{Name: ScenarioMix, URLs: urls, Next: func(w, n int) Request {
			if n%10 == 9 {
				return addCard(w, n)
			}
			return authGetBoard(w, n)
		}},
		// Anonymous readers of the largest board a user can make public:
		// what one answer costs, and the memory many of them take.
		{Name: ScenarioFullBoard, URLs: urls, Next: fixed(toolCall(1, "get_board", map[string]any{"board_id": fx.fullBoardID}))},
	}
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
	// Database is the PostgreSQL database of the run (created for it and
	// dropped after it), as pgdb.Redacted shows it; empty without
	// -database.
	Database string `json:"database,omitempty"`
	// StartToReadyMS and PeakRSSMiB are the server's (Processes[0]).
	StartToReadyMS float64          `json:"start_to_ready_ms"`
	PeakRSSMiB     *float64         `json:"peak_rss_mib"` // null without /proc
	Processes      []ProcessReport  `json:"processes"`
	Scenarios      []ScenarioReport `json:"scenarios"`
	Answers        []AnswerReport   `json:"answers"`
	Targets        []TargetReport   `json:"targets"` // issue 14's, then with -database issue 13's
}

// TargetReport is one target that an issue set for a 2-core machine (with
// the database on it, for PostgreSQL): what was measured, against what,
// and whether it was met. Bench reports them and never fails on them.
type TargetReport struct {
	Name     string  `json:"name"`
	Issue    int     `json:"issue"`    // the issue that set it: 14 (SQLite), 13 (PostgreSQL)
	Measured bool    `json:"measured"` // false when -scenarios left its scenario out
	Value    float64 `json:"value"`
	Unit     string  `json:"unit"` // ×, req/s or errors
	Want     string  `json:"want"` // a comparison with Value, in Unit
	Met      bool    `json:"met"`
}

// AnswerReport is the size of one get_board answer's text content,
// against the JSON copy of its structured content that the MCP
// specification suggests for the text instead (what the server's
// rendering saves the model), and against the mcp-go floor's answer for
// the same board.
type AnswerReport struct {
	Name string `json:"name"`
	AnswerSize
	Ratio float64 `json:"ratio"` // TextBytes / JSONBytes
	// Floor is the mcp-go floor's answer for the same board, which the
	// ratio to it assumes is the server's, size for size (IDs and the
	// time differ, not their lengths); absent for a board with no floor
	// (full_board).
	Floor *AnswerSize `json:"floor,omitempty"`
}

// AnswerSize is the size of a tools/call result's parts, in bytes.
type AnswerSize struct {
	TextBytes int `json:"text_bytes"`
	JSONBytes int `json:"json_bytes"` // the structured content, as encoded in the answer
	MetaBytes int `json:"meta_bytes"` // the result's _meta, as encoded in the answer; 0 without
}

// measureAnswers reads the boards that the get_board scenarios read, once,
// on the server at mcpURL and on the mcp-go floor at floorURL, and sizes
// their parts.
func measureAnswers(ctx context.Context, client *http.Client, mcpURL, floorURL string, fx benchFixture) ([]AnswerReport, error) {
	type board struct {
		name, token, id string
		floorID         string // "": no floor
	}
	boards := []board{
		{ScenarioGetBoard + fmt.Sprintf(" (%d cards)", BoardCardCount), fx.tokens[0], fx.boardID, fx.boardID},
		{ScenarioGetBoardShort + fmt.Sprintf(" (%d short cards)", BoardCardCount), fx.tokens[0], fx.shortBoardID, ShortBoardSentinel},
	}
	if fx.fullBoardID != "" {
		boards = append(boards, board{ScenarioFullBoard + fmt.Sprintf(" (%d cards)", FullBoardCardCount), "", fx.fullBoardID, ""})
	}
	var answers []AnswerReport
	for _, b := range boards {
		size, err := answerSize(ctx, client, mcpURL, b.token, b.id)
		if err != nil {
			return nil, err
		}
		a := AnswerReport{Name: b.name, AnswerSize: size, Ratio: float64(size.TextBytes) / float64(size.JSONBytes)}
		if b.floorID != "" {
			floor, err := answerSize(ctx, client, floorURL, "", b.floorID)
			if err != nil {
				return nil, fmt.Errorf("the mcp-go floor's %w", err)
			}
			a.Floor = &floor
		}
		answers = append(answers, a)
	}
	return answers, nil
}

// answerSize calls get_board of boardID at mcpURL and sizes its answer.
func answerSize(ctx context.Context, client *http.Client, mcpURL, token, boardID string) (AnswerSize, error) {
	var body bytes.Buffer
	status, err := Post(ctx, client, mcpURL, Request{Body: toolCall(1, "get_board", map[string]any{"board_id": boardID}), Token: token}, &body)
	if o := Classify(err, status, body.Bytes()); o.Err {
		return AnswerSize{}, fmt.Errorf("get_board: %s", o.Message)
	}
	var res struct {
		Result struct {
			Content []struct {
				Type string `json:"type"`
				Text string `json:"text"`
			} `json:"content"`
			Structured json.RawMessage `json:"structuredContent"`
			Meta       json.RawMessage `json:"_meta"`
		} `json:"result"`
	}
	if err := json.Unmarshal(body.Bytes(), &res); err != nil {
		return AnswerSize{}, fmt.Errorf("get_board: decode the answer: %w", err)
	}
	size := AnswerSize{JSONBytes: len(res.Result.Structured), MetaBytes: len(res.Result.Meta)}
	for _, c := range res.Result.Content {
		if c.Type == "text" {
			size.TextBytes += len(c.Text)
		}
	}
	if size.TextBytes == 0 || size.JSONBytes == 0 {
		return AnswerSize{}, fmt.Errorf("get_board answered without text or structured content: %s", body.Bytes())
	}
	return size, nil
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
	Scenario string  `json:"scenario"`          // the server scenario it runs: Name without its prefix
	Backend  string  `json:"backend,omitempty"` // sqlite, postgres, postgres-2-replicas; none for a baseline
	Target   string  `json:"target"`            // the process under load, or the replicas joined by +
	Requests int     `json:"requests"`
	Seconds  float64 `json:"seconds"`
	RPS      float64 `json:"rps"`
	P50MS    float64 `json:"p50_ms"`
	P95MS    float64 `json:"p95_ms"`
	P99MS    float64 `json:"p99_ms"`
	MeanMS   float64 `json:"mean_ms"`
	MaxMS    float64 `json:"max_ms"`
	Errors   int     `json:"errors"`
	// ErrorsByKind splits Errors by kind (ErrorKind: http_503,
	// jsonrpc…); absent without errors.
	ErrorsByKind map[ErrorKind]int `json:"errors_by_kind,omitempty"`
	// BusyErrors counts failed answers that mention SQLite's busy error or
	// PostgreSQL's serialization failure or deadlock (MentionsBusy);
	// ServerLogBusy the targets' log lines that do during the scenario (an
	// internal error reaches the client without its cause, and an audit
	// batch has no client). The target is zero.
	BusyErrors    int     `json:"busy_errors"`
	ServerLogBusy int64   `json:"server_log_busy"`
	RatioBare     float64 `json:"ratio_bare"`  // rps ÷ the bare baseline's rps
	RatioMCPGo    float64 `json:"ratio_mcpgo"` // rps ÷ the rps of its mcp-go floor (floorOf)
	// RatioSQLite is rps ÷ the same scenario's rps on SQLite in this run,
	// for the PostgreSQL scenarios.
	RatioSQLite  float64  `json:"ratio_sqlite,omitempty"`
	RSSMaxMiB    *float64 `json:"rss_max_mib"` // the largest VmRSS sampled of a target during the scenario
	ErrorSamples []string `json:"error_samples,omitempty"`
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
		ErrorsByKind:  r.ErrorKinds,
		BusyErrors:    r.Busy,
		ServerLogBusy: logBusy,
		ErrorSamples:  r.ErrorSamples,
	}
}

// fillRatios divides every throughput by the baselines' (by the mcp-go
// floor of the same board: floorOf), and each PostgreSQL scenario's by the
// same scenario's on SQLite.
func (rep *Report) fillRatios() {
	base := map[string]float64{}
	sqlite := map[string]float64{}
	for _, s := range rep.Scenarios {
		base[s.Name] = s.RPS
		if s.Backend == BackendSQLite {
			sqlite[s.Scenario] = s.RPS
		}
	}
	for i := range rep.Scenarios {
		s := &rep.Scenarios[i]
		if b := base[ScenarioBare]; b > 0 {
			s.RatioBare = s.RPS / b
		}
		if b := base[floorOf(s.Scenario)]; b > 0 {
			s.RatioMCPGo = s.RPS / b
		}
		if b := sqlite[s.Scenario]; b > 0 && s.Backend != BackendSQLite && s.Backend != "" {
			s.RatioSQLite = s.RPS / b
		}
	}
}

// Issue 14's targets on a 2-core machine, on SQLite.
const (
	// get_board at least 0.75 × the mcp-go floor's get_board of the same
	// board, for the 50-card board and for the short-card one.
	targetGetBoardFloor = 0.75
	// tools/list at least as fast as the floor's get_board of the
	// short-card board, which the issue's table took as 1.00.
	targetToolsListFloor = 1.0
	// add_card per second, with no busy error at all.
	targetAddCard = 2000
)

// Issue 13's targets on a 2-core machine with PostgreSQL on it.
const (
	// get_board on PostgreSQL at least half as fast as on SQLite, in the
	// same run: the revision check before a cached board is served costs
	// a round trip that SQLite does not pay.
	targetGetBoardRatio = 0.5
	// add_card through two replicas, per second.
	targetReplicaAddCard = 1000
)

// targets judges the run against issue 14's targets, which every run
// measures, and with -database issue 13's too.
func (rep *Report) targets() []TargetReport {
	t := rep.sqliteTargets()
	if rep.Database != "" {
		t = append(t, rep.postgresTargets()...)
	}
	return t
}

// scenario finds a scenario's report by name.
func (rep *Report) scenario(name string) (ScenarioReport, bool) {
	i := slices.IndexFunc(rep.Scenarios, func(s ScenarioReport) bool { return s.Name == name })
	if i < 0 {
		return ScenarioReport{}, false
	}
	return rep.Scenarios[i], true
}

// ratioTarget is the target that scenario's throughput be at least want ×
// floor's; it is measured when both ran.
func (rep *Report) ratioTarget(issue int, scenario, floor string, want float64) TargetReport {
	t := TargetReport{Name: scenario + " ÷ " + floor, Issue: issue, Unit: "×", Want: "≥ " + strconv.FormatFloat(want, 'f', 2, 64)}
	s, ok := rep.scenario(scenario)
	f, fok := rep.scenario(floor)
	if ok && fok && f.RPS > 0 {
		t.Measured, t.Value = true, s.RPS/f.RPS
		t.Met = t.Value >= want
	}
	return t
}

// sqliteTargets judges the run against issue 14's targets, on SQLite:
// get_board against the mcp-go floor's get_board of the same board (the
// 50-card board and the short-card one), tools/list against the floor's
// get_board of the short-card board, and add_card's rate and busy errors
// (answers that name one, or the server log lines that record the cause
// of an internal error).
func (rep *Report) sqliteTargets() []TargetReport {
	targets := []TargetReport{
		rep.ratioTarget(14, ScenarioGetBoard, ScenarioMCPGo, targetGetBoardFloor),
		rep.ratioTarget(14, ScenarioGetBoardShort, ScenarioMCPGoShort, targetGetBoardFloor),
		rep.ratioTarget(14, ScenarioToolsList, ScenarioMCPGoShort, targetToolsListFloor),
	}
	rate := TargetReport{Name: ScenarioAddCard, Issue: 14, Unit: "req/s", Want: fmt.Sprintf("≥ %d", targetAddCard)}
	busy := TargetReport{Name: "busy errors in " + ScenarioAddCard, Issue: 14, Unit: "errors", Want: "= 0"}
	if s, ok := rep.scenario(ScenarioAddCard); ok {
		rate.Measured, rate.Value = true, s.RPS
		rate.Met = s.RPS >= targetAddCard
		busy.Measured, busy.Value = true, float64(int64(s.BusyErrors)+s.ServerLogBusy)
		busy.Met = busy.Value == 0
	}
	return append(targets, rate, busy)
}

// postgresTargets judges the run against issue 13's targets: get_board
// on PostgreSQL against SQLite, add_card through two replicas, and no
// serialization failure or deadlock reaching a client (answers that name
// one, or the server log lines that record the cause of an internal
// error) in any PostgreSQL scenario.
func (rep *Report) postgresTargets() []TargetReport {
	getBoard := TargetReport{Name: PrefixPostgres + ScenarioGetBoard + " ÷ " + ScenarioGetBoard + " on SQLite", Issue: 13, Unit: "×", Want: fmt.Sprintf("≥ %.1f", targetGetBoardRatio)}
	if s, ok := rep.scenario(PrefixPostgres + ScenarioGetBoard); ok {
		getBoard.Measured, getBoard.Value = true, s.RatioSQLite
		getBoard.Met = s.RatioSQLite >= targetGetBoardRatio
	}
	addCard := TargetReport{Name: PrefixReplicas + ScenarioAddCard, Issue: 13, Unit: "req/s", Want: fmt.Sprintf("≥ %d", targetReplicaAddCard)}
	if s, ok := rep.scenario(PrefixReplicas + ScenarioAddCard); ok {
		addCard.Measured, addCard.Value = true, s.RPS
		addCard.Met = s.RPS >= targetReplicaAddCard
	}
	serial := TargetReport{Name: "serialization failures and deadlocks in PostgreSQL scenarios", Issue: 13, Unit: "errors", Want: "= 0"}
	for _, s := range rep.Scenarios {
		if s.Backend == BackendPostgres || s.Backend == BackendReplicas {
			serial.Measured = true
			serial.Value += float64(int64(s.BusyErrors) + s.ServerLogBusy)
		}
	}
	serial.Met = serial.Measured && serial.Value == 0
	return []TargetReport{getBoard, addCard, serial}
}

func (rep *Report) printTable(w io.Writer, out string) {
	// Numbers align right; names are padded so that they read from the left.
	width := len("scenario")
	for _, s := range rep.Scenarios {
		width = max(width, len(s.Name))
	}
	// "vs sqlite" only when there is something to compare with SQLite.
	pg := rep.Database != ""
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\treq/s\tp50 ms\tp95 ms\tp99 ms\terrors\t503\tbusy\tvs bare\tvs mcpgo\t", width, "scenario")
	if pg {
		fmt.Fprint(tw, "vs sqlite\t")
	}
	fmt.Fprint(tw, "RSS MiB\t\n")
	for _, s := range rep.Scenarios {
		fmt.Fprintf(tw, "%-*s\t%.0f\t%.2f\t%.2f\t%.2f\t%d\t%d\t%d\t%.3f\t%.3f\t",
			width, s.Name, s.RPS, s.P50MS, s.P95MS, s.P99MS, s.Errors, s.ErrorsByKind[ErrUnavailable], int64(s.BusyErrors)+s.ServerLogBusy,
			s.RatioBare, s.RatioMCPGo)
		if pg {
			if s.RatioSQLite > 0 {
				fmt.Fprintf(tw, "%.3f\t", s.RatioSQLite)
			} else {
				fmt.Fprint(tw, "-\t")
			}
		}
		fmt.Fprintf(tw, "%s\t\n", mibText(s.RSSMaxMiB))
	}
	tw.Flush()
	fmt.Fprintln(w)
	var failed []string
	for _, s := range rep.Scenarios {
		if s.Errors == 0 {
			continue
		}
		var kinds []string
		for _, k := range slices.Sorted(maps.Keys(s.ErrorsByKind)) {
			kinds = append(kinds, fmt.Sprintf("%d %s", s.ErrorsByKind[k], k))
		}
		failed = append(failed, fmt.Sprintf("%s %d (%s)", s.Name, s.Errors, strings.Join(kinds, ", ")))
	}
	if len(failed) == 0 {
		failed = []string{"none in any scenario (no transport error, non-200, JSON-RPC error or isError result)"}
	}
	fmt.Fprintf(w, "errors:          %s\n", strings.Join(failed, "; "))
	if pg {
		fmt.Fprintf(w, "postgres:        %s, a database created for this run (CREATE DATABASE) and dropped after it; -database's own is not written\n", rep.Database)
		fmt.Fprintf(w, "                 %s…: one server on it; %s…: two replicas on it, same BASE_URL, connections alternating between them\n", PrefixPostgres, PrefixReplicas)
	}
	fmt.Fprintf(w, "vs mcpgo:        %s ÷ %s, every other scenario ÷ %s\n", ScenarioGetBoardShort, ScenarioMCPGoShort, ScenarioMCPGo)
	for _, t := range rep.Targets {
		verdict := "not measured: -scenarios left its scenario out"
		if t.Measured {
			verdict = fmt.Sprintf("%s %s (target %s): ", t.valueText(), t.Unit, t.Want)
			if t.Met {
				verdict += "met"
			} else {
				verdict += "NOT met"
			}
		}
		fmt.Fprintf(w, "target:          %s %s (issue %d)\n", t.Name, verdict, t.Issue)
	}
	var ready, peak []string
	for _, p := range rep.Processes[1:] {
		ready = append(ready, fmt.Sprintf("%s %.1f ms", p.Name, p.StartToReadyMS))
		peak = append(peak, fmt.Sprintf("%s %s", p.Name, mibText(p.PeakRSSMiB)))
	}
	for _, a := range rep.Answers {
		fmt.Fprintf(w, "answer text:     %s %d bytes; its structured content as JSON %d bytes (%.2f ×); _meta %d bytes", a.Name, a.TextBytes, a.JSONBytes, a.Ratio, a.MetaBytes)
		switch {
		case a.Floor == nil:
		case *a.Floor == a.AnswerSize:
			fmt.Fprint(w, "; the mcp-go floor's answer: the same sizes")
		default:
			fmt.Fprintf(w, "; the mcp-go floor's answer DIFFERS: text %d, JSON %d, _meta %d bytes", a.Floor.TextBytes, a.Floor.JSONBytes, a.Floor.MetaBytes)
		}
		fmt.Fprintln(w)
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

// valueText shows a target's value: a ratio with two decimals, a rate or
// a count as a whole number.
func (t TargetReport) valueText() string {
	if t.Unit == "×" {
		return strconv.FormatFloat(t.Value, 'f', 2, 64)
	}
	return strconv.FormatFloat(t.Value, 'f', 0, 64)
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
